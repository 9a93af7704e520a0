// Per-target bodies of the ternary GEMV (TQ2_0 weights x Q8_K activations),
// reproducing the lanes16 contract of trix/kernels/gemv_tq2_0_q8_k.body.h bit
// for bit. Included once per Highway target (foreach_target), hence the
// toggle guard instead of #pragma once.
//
// Per 256-weight block and row the 16 lane sums come from one "dot of 4
// adjacent bytes" instruction family: vpdpbusd (AVX3_DL), vpmaddubsw +
// vpmaddwd (AVX3, AVX2, SSSE3/SSE4), sdot or vmull + vpadal (NEON on
// aarch64, trix/cpu/arm_dot-inl.h). Code byte j of the block feeds lane j/4;
// the activation byte paired with code byte j in field n is
// x[(j / 32) * 128 + 32 n + j % 32], so per field the activations are two
// contiguous 32-byte runs. Unsigned codes c in {0,1,2} multiply signed int8
// activations; the -1 offset is applied by starting each lane at minus the
// sum of its 16 activations.
//
// Integer ranges (no saturation anywhere): vpmaddubsw adds two products
// c*q with c <= 2 and -128 <= q <= 127, so |pair| <= 512 < 32767; vpmaddwd
// then sums pairs into int32. A lane sum over one block is at most
// 16 * 2 * 128 = 4096 in magnitude, far from int32 limits. Activation sums
// per lane are at most 16 * 128.
#if defined(TRIX_CPU_GEMV_TERNARY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_GEMV_TERNARY_INL_H_
#undef TRIX_CPU_GEMV_TERNARY_INL_H_
#else
#define TRIX_CPU_GEMV_TERNARY_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hwy/highway.h"
#include "trix/core/fp16.h"
#include "trix/cpu/arm_features.h"
#include "trix/formats/blocks.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"
#include "trix/kernels/lanes16.h"
// Per-target helper with its own toggle guard (before target_begin-inl.h).
#include "trix/cpu/arm_dot-inl.h"  // IWYU pragma: keep

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2 || \
    HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
#include <immintrin.h>
#endif

#define TRIX_TARGET_QUIET_MAYBE_UNINITIALIZED
#include "trix/cpu/target_begin-inl.h"  // Highway's attributes; AVX3_DL: +avx512vnni
namespace trix::cpu {
namespace HWY_NAMESPACE {

namespace detail {

// Sum of the 16 activations each lane pairs with, per lane, for one block.
inline void lane_activation_sums(const BlockQ8_K& x, int32_t out[16]) {
  for (int lane = 0; lane < 16; ++lane) {
    int32_t s = 0;
    const int base = (lane / 8) * 128 + 4 * (lane % 8);
    for (int n = 0; n < 4; ++n) {
      for (int i = 0; i < 4; ++i) s += x.qs[base + 32 * n + i];
    }
    out[lane] = -s;
  }
}

inline float block_scale(const BlockTQ2_0& w, const BlockQ8_K& x) {
#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
  return _cvtsh_ss(w.d) * x.d;  // F16C is part of these targets; same bits as fp16_to_fp32
#else
  return fp16_to_fp32(w.d) * x.d;
#endif
}

#if HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64
// Compiled with +dotprod (vdotq_s32 is inlined here); see arm_dot-inl.h.
TRIX_ARM_DOTPROD_BEGIN
template <bool kSdot>
inline void GemvRowsNeon(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const size_t n_blocks = args.k / BlockTQ2_0::kElements;
  const auto* x = static_cast<const BlockQ8_K*>(args.x);
  for (size_t r = row_begin; r < row_end; ++r) {
    const auto* row = reinterpret_cast<const BlockTQ2_0*>(static_cast<const uint8_t*>(args.w) +
                                                          r * args.w_row_bytes);
    float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (size_t b = 0; b < n_blocks; ++b) {
      alignas(16) int32_t init[16];
      lane_activation_sums(x[b], init);
      const float32x4_t scale = vdupq_n_f32(block_scale(row[b], x[b]));
#pragma GCC unroll 4
      for (size_t t = 0; t < 4; ++t) {
        // Code bytes 16t..16t+15: activation run starts at (t/2)*128 + 16*(t%2).
        const int8_t* qa = x[b].qs + (t / 2) * 128 + 16 * (t % 2);
        const int32x4_t s = arm_dot::Dot16<kSdot>(vld1q_s32(init + 4 * t), vld1q_u8(row[b].qs + 16 * t),
                                                  vld1q_s8(qa), vld1q_s8(qa + 32), vld1q_s8(qa + 64),
                                                  vld1q_s8(qa + 96));
        acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(s), scale);  // exact convert: |s| <= 4096
      }
    }
    alignas(16) float v[16];
    for (size_t t = 0; t < 4; ++t) vst1q_f32(v + 4 * t, acc[t]);
    args.y[r] = lanes16_combine(v);
  }
}
TRIX_ARM_DOTPROD_END
#endif  // HWY_NEON && A64

}  // namespace detail

// y[r] for r in [row_begin, row_end). kRowsPerStep rows share each activation
// load. Contract: GemvArgs with TQ2_0 rows and one Q8_K row of k elements.
template <size_t kRowsPerStep>
inline void GemvTQ2_0Q8KRows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const size_t n_blocks = args.k / BlockTQ2_0::kElements;
  const auto* x = static_cast<const BlockQ8_K*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const BlockTQ2_0*>(w_base + r * args.w_row_bytes);
  };

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3
  size_t r = row_begin;
  auto run = [&](auto rows_const) {
    constexpr size_t R = decltype(rows_const)::value;
    const BlockTQ2_0* rows[R];
    for (size_t i = 0; i < R; ++i) rows[i] = row_ptr(r + i);
    __m512 acc[R];
    for (size_t i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps();
    const __m512i mask2 = _mm512_set1_epi8(3);
    const __m512i ones8 = _mm512_set1_epi8(1);
#if HWY_TARGET == HWY_AVX3
    const __m512i ones16 = _mm512_set1_epi16(1);
#endif
    for (size_t b = 0; b < n_blocks; ++b) {
      const int8_t* q = x[b].qs;
      __m512i act[4];
      for (int n = 0; n < 4; ++n) {
        act[n] = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * n))),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 128 + 32 * n)), 1);
      }
      // Each lane starts at minus the sum of the 16 activations it meets: the
      // same byte-group dot as the codes, with all-ones instead of codes.
      __m512i lane_sums = _mm512_setzero_si512();
      for (int n = 0; n < 4; ++n) {
#if HWY_TARGET == HWY_AVX3_DL
        lane_sums = _mm512_dpbusd_epi32(lane_sums, ones8, act[n]);
#else
        lane_sums = _mm512_add_epi32(lane_sums, _mm512_madd_epi16(_mm512_maddubs_epi16(ones8, act[n]), ones16));
#endif
      }
      const __m512i init = _mm512_sub_epi32(_mm512_setzero_si512(), lane_sums);
      for (size_t i = 0; i < R; ++i) {
        const __m512i codes = _mm512_loadu_si512(rows[i][b].qs);
        __m512i sum = init;
        for (int n = 0; n < 4; ++n) {
          const __m512i c = _mm512_and_si512(_mm512_srli_epi16(codes, 2 * n), mask2);
#if HWY_TARGET == HWY_AVX3_DL
          sum = _mm512_dpbusd_epi32(sum, c, act[n]);
#else
          sum = _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_maddubs_epi16(c, act[n]), ones16));
#endif
        }
        const float scale = detail::block_scale(rows[i][b], x[b]);
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(scale), acc[i]);
      }
    }
    for (size_t i = 0; i < R; ++i) {
      alignas(64) float v[16];
      _mm512_store_ps(v, acc[i]);
      args.y[r + i] = lanes16_combine(v);
    }
    r += R;
  };
  for (; r + kRowsPerStep <= row_end;) run(std::integral_constant<size_t, kRowsPerStep>());
  while (r < row_end) run(std::integral_constant<size_t, 1>());

#elif HWY_TARGET == HWY_AVX2
  size_t r = row_begin;
  auto run = [&](auto rows_const) {
    constexpr size_t R = decltype(rows_const)::value;
    const BlockTQ2_0* rows[R];
    for (size_t i = 0; i < R; ++i) rows[i] = row_ptr(r + i);
    __m256 acc_lo[R], acc_hi[R];  // lanes 0-7 and 8-15
    for (size_t i = 0; i < R; ++i) acc_lo[i] = acc_hi[i] = _mm256_setzero_ps();
    const __m256i mask2 = _mm256_set1_epi8(3);
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (size_t b = 0; b < n_blocks; ++b) {
      const int8_t* q = x[b].qs;
      __m256i act_lo[4], act_hi[4];
      for (int n = 0; n < 4; ++n) {
        act_lo[n] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * n));
        act_hi[n] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 128 + 32 * n));
      }
      __m256i sums_lo = _mm256_setzero_si256(), sums_hi = _mm256_setzero_si256();
      for (int n = 0; n < 4; ++n) {
        sums_lo = _mm256_add_epi32(sums_lo, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, act_lo[n]), ones16));
        sums_hi = _mm256_add_epi32(sums_hi, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, act_hi[n]), ones16));
      }
      const __m256i init_lo = _mm256_sub_epi32(_mm256_setzero_si256(), sums_lo);
      const __m256i init_hi = _mm256_sub_epi32(_mm256_setzero_si256(), sums_hi);
      for (size_t i = 0; i < R; ++i) {
        const __m256i codes_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i][b].qs));
        const __m256i codes_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[i][b].qs + 32));
        __m256i sum_lo = init_lo, sum_hi = init_hi;
        for (int n = 0; n < 4; ++n) {
          const __m256i c_lo = _mm256_and_si256(_mm256_srli_epi16(codes_lo, 2 * n), mask2);
          const __m256i c_hi = _mm256_and_si256(_mm256_srli_epi16(codes_hi, 2 * n), mask2);
          sum_lo = _mm256_add_epi32(sum_lo, _mm256_madd_epi16(_mm256_maddubs_epi16(c_lo, act_lo[n]), ones16));
          sum_hi = _mm256_add_epi32(sum_hi, _mm256_madd_epi16(_mm256_maddubs_epi16(c_hi, act_hi[n]), ones16));
        }
        const __m256 scale = _mm256_set1_ps(detail::block_scale(rows[i][b], x[b]));
        acc_lo[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_lo), scale, acc_lo[i]);
        acc_hi[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum_hi), scale, acc_hi[i]);
      }
    }
    for (size_t i = 0; i < R; ++i) {
      alignas(32) float v[16];
      _mm256_store_ps(v, acc_lo[i]);
      _mm256_store_ps(v + 8, acc_hi[i]);
      args.y[r + i] = lanes16_combine(v);
    }
    r += R;
  };
  for (; r + kRowsPerStep <= row_end;) run(std::integral_constant<size_t, kRowsPerStep>());
  while (r < row_end) run(std::integral_constant<size_t, 1>());

#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
  // Four xmm per row, lanes 4t..4t+3 in sum[t]. No FMA on these targets: the
  // float step uses fmaf per lane to keep the contract's fused rounding.
  const __m128i mask2 = _mm_set1_epi8(3);
  const __m128i ones16 = _mm_set1_epi16(1);
  for (size_t r = row_begin; r < row_end; ++r) {
    const BlockTQ2_0* row = row_ptr(r);
    float acc[16] = {};
    for (size_t b = 0; b < n_blocks; ++b) {
      const int8_t* q = x[b].qs;
      alignas(16) int32_t sums[16];
      detail::lane_activation_sums(x[b], sums);
      for (int t = 0; t < 4; ++t) {
        const __m128i codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row[b].qs + 16 * t));
        __m128i sum = _mm_load_si128(reinterpret_cast<const __m128i*>(sums + 4 * t));
        // Code bytes 16t..16t+15: activation run starts at (t/2)*128 + 16*(t%2).
        const int8_t* qa = q + (t / 2) * 128 + 16 * (t % 2);
        for (int n = 0; n < 4; ++n) {
          const __m128i c = _mm_and_si128(_mm_srli_epi16(codes, 2 * n), mask2);
          const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qa + 32 * n));
          sum = _mm_add_epi32(sum, _mm_madd_epi16(_mm_maddubs_epi16(c, a), ones16));
        }
        _mm_store_si128(reinterpret_cast<__m128i*>(sums + 4 * t), sum);
      }
      const float scale = detail::block_scale(row[b], x[b]);
      for (int l = 0; l < 16; ++l) acc[l] = std::fma(static_cast<float>(sums[l]), scale, acc[l]);
    }
    args.y[r] = lanes16_combine(acc);
  }

#elif HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64
  // Four q registers per row, lanes 4t..4t+3 in quarter t, as on SSE4; the
  // dot step is arm_dot::Dot16 (sdot where the CPU has it, chosen once here).
  if (arm_has_dotprod()) {
    detail::GemvRowsNeon<true>(args, row_begin, row_end);
  } else {
    detail::GemvRowsNeon<false>(args, row_begin, row_end);
  }
  (void)n_blocks;
  (void)x;
  (void)row_ptr;

#else
  // Targets without a dot-of-4-bytes fast path yet (EMU128, SCALAR, others):
  // the contract's own body.
  for (size_t r = row_begin; r < row_end; ++r) {
    args.y[r] = kernels::gemv_tq2_0_q8_k_row_ref(row_ptr(r), x, args.k);
  }
  (void)n_blocks;
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
#include "trix/cpu/target_end-inl.h"

#endif  // TRIX_CPU_GEMV_TERNARY_INL_H_
