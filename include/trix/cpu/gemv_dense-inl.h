// Per-target GEMV for the non-ternary tensors a model may hold (token
// embeddings, output projection, Q8_0 or F16 files), one Highway body per
// target. Included once per target, hence the toggle guard.
//
// GemvQ8_0Q8_0Rows: Q8_0 weight rows x one Q8_0 activation row, bit for bit
//   trix::vec_dot_q8_0_q8_0 per row: per 32-element block an exact int32
//   isum, then acc = fma(float(isum), d_w * d_a, acc) in block order. The
//   products are widened to int16 (|w * a| <= 128 * 128 = 16384) and summed
//   pairwise into int32 (ReorderWidenMulAccumulate: vpmaddwd, smlal); a
//   block's |isum| <= 32 * 16384 = 2^19, exact in float. kRowsPerStep rows
//   share each activation block's load and scale (the generic path). x86:
//   rows in f32 lanes, 16 at a time with vpdpbusd (AVX3_DL, GemvQ8_0Rows16),
//   then 8 at a time with vpmaddwd (AVX2 and up, GemvQ8_0Rows8), the next
//   row group prefetched linearly (PrefetchShare); the rest generic.
//   aarch64 NEON and SVE: each block's isum from trix/cpu/arm_dot-inl.h's
//   DotTotal32 (sdot or vmull + vpadal on NEON, svdot on SVE), four rows'
//   float steps in one AdvSIMD vector (lane i: row i; the same fma per row).
// GemvQ4_0Q8_0Rows: Q4_0 weight rows x one Q8_0 activation row, bit for bit
//   trix::vec_dot_q4_0_q8_0 per row. AVX2 / AVX-512: unsigned nibbles times
//   the activations with vpmaddubsw, minus 8 * sum a, four blocks reduced
//   together (GemvQ4_0Rows256); other targets: the Q8_0 loop with the codes
//   (nibble - 8, |w * a| <= 8 * 128) unpacked from 16 bytes per block
//   (vectors of at most 16 int16 lanes: one nibble half each).
// GemvF16F32Rows: F16 weight rows x f32 activations in the lanes16 order of
//   trix/kernels/gemv_f16_f32_ref.h, bit for bit: element i goes to lane
//   i % 16 with a fused multiply-add, so a target with N f32 lanes (N = 4,
//   8 or 16) keeps 16 / N accumulators; the tail is zero-padded (fma(0, 0,
//   acc) = acc: an accumulator that starts at +0 never becomes -0).
// Targets without native FMA (SSSE3, SSE4, EMU128) and SCALAR run the
// references' own loops for the float steps (std::fma per lane).
#if defined(TRIX_CPU_GEMV_DENSE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_GEMV_DENSE_INL_H_
#undef TRIX_CPU_GEMV_DENSE_INL_H_
#else
#define TRIX_CPU_GEMV_DENSE_INL_H_
#endif

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hwy/highway.h"
#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q4_0.h"
#include "trix/formats/q8_0.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_f16_f32_ref.h"
#include "trix/kernels/lanes16.h"
// Per-target helper with its own toggle guard (before target_begin-inl.h).
#include "trix/cpu/arm_dot-inl.h"  // IWYU pragma: keep
#include "trix/cpu/arm_features.h"

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
#include <immintrin.h>
#elif TRIX_ARM_BYTES_TARGET
#include <arm_neon.h>
#endif

#define TRIX_TARGET_QUIET_MAYBE_UNINITIALIZED
#include "trix/cpu/target_begin-inl.h"  // Highway's attributes; AVX3_DL: +avx512vnni
namespace trix::cpu {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
// Bytes [b * share, (b + 1) * share) of next: the Q8_0 multi-row kernels
// below read a group of R rows as R row streams, share = R * 34 bytes per
// block, and meanwhile prefetch the next R rows (one contiguous run of R
// row_bytes, next) linearly, share bytes per block: R short streams at once
// are more than the hardware prefetcher keeps up with (AVX2, 2560 x 2560,
// 1 thread: 578 -> 507 us per cold call on a loaded 2-core AMD EPYC VM).
// A prefetch past the matrix is harmless (prefetches do not fault).
HWY_INLINE void PrefetchShare(const uint8_t* next, size_t b, size_t share) {
  for (size_t off = b * share; off < (b + 1) * share; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(next + off), _MM_HINT_T0);
  }
}
#endif

#if HWY_TARGET == HWY_AVX3_DL
// Two-source shuffles as merge-masked forms with a full mask (the same
// instructions; the plain intrinsics start from _mm512_undefined_*(), which
// GCC 12 -O3 reports as an uninitialized use under -Werror).
template <int kImm>
HWY_INLINE __m512i ShuffleQuartersI32(__m512i a, __m512i b) {
  return _mm512_mask_shuffle_i32x4(a, 0xFFFF, a, b, kImm);
}
template <int kImm>
HWY_INLINE __m512i ShuffleLanesI32(__m512i a, __m512i b) {
  const __m512 fa = _mm512_castsi512_ps(a);
  return _mm512_castps_si512(_mm512_mask_shuffle_ps(fa, 0xFFFF, fa, _mm512_castsi512_ps(b), kImm));
}

// Q8_0 rows [r, r + 16k) of a GEMV, 16 rows at a time with row i in f32
// lane i, so the per-block float steps (isum -> float, d_w * d_a, fma) are
// one vector instruction each for 16 rows, in block order: the contract's
// operations per row, bit for bit. Per block the 16 exact int32 isums come
// from 8 vpdpbusd over 2 rows each ((w + 128) as u8 times a as s8, the
// accumulator starting at -128 * (sum of each lane's 4 activations), so
// every lane sum is exactly sum w * a; |lane| <= 4 * 255 * 128 < 2^31) and
// a reduction tree of 21 instructions (int32: any order is exact).
// Returns the first row it did not process.
inline size_t GemvQ8_0Rows16(const GemvArgs& args, size_t row_begin, size_t row_end) {
  constexpr size_t kQK = BlockQ8_0::kElements;
  static_assert(kQK == 32 && sizeof(BlockQ8_0) == 34);
  const auto* x = static_cast<const BlockQ8_0*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  const size_t nb = args.k / kQK;
  const size_t rb = args.w_row_bytes;
  assert(15 * rb < (size_t{1} << 31));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  // The reduction tree leaves row 4s + q in lane 4q + s (a 4x4 transpose,
  // its own inverse): the scales are gathered in that order and the
  // results permuted back at the end.
  const __m512i lane_row = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  // Byte offsets of those rows' block scales (gathered as 32-bit words).
  const __m512i row_off = _mm512_mullo_epi32(lane_row, _mm512_set1_epi32(static_cast<int>(rb)));
  size_t r = row_begin;
  for (; r + 16 <= row_end; r += 16) {
    const uint8_t* base = w_base + r * rb;
    __m512 acc = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
      PrefetchShare(base + 16 * rb, b, 16 * sizeof(BlockQ8_0));
      const uint8_t* blk = base + b * sizeof(BlockQ8_0);
      const __m512i av = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs)));
      const __m512i neg_corr = _mm512_sub_epi32(_mm512_setzero_si512(),
                                                _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, av));
      __m512i p[8];
#pragma GCC unroll 8
      for (size_t j = 0; j < 8; ++j) {
        const uint8_t* q0 = blk + (2 * j) * rb + 2;
        const uint8_t* q1 = q0 + rb;
        // (A broadcast load, not a cast: GCC 12 -O3 warns that the cast's
        // upper half is uninitialized.)
        const __m512i wv = _mm512_inserti64x4(
            _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q0))),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q1)), 1);
        p[j] = _mm512_dpbusd_epi32(neg_corr, _mm512_xor_si512(wv, flip), av);
      }
      // p[j]: rows 2j (lanes 0-7) and 2j + 1 (lanes 8-15), 8 partial sums
      // each. Halve the partials per row three times, packing rows.
      __m512i z[4], u[2];
#pragma GCC unroll 4
      for (size_t k = 0; k < 4; ++k) {
        z[k] = _mm512_add_epi32(ShuffleQuartersI32<0x88>(p[2 * k], p[2 * k + 1]),
                                ShuffleQuartersI32<0xDD>(p[2 * k], p[2 * k + 1]));
      }
      // z[k] quarters: rows 4k, 4k + 1, 4k + 2, 4k + 3 (4 partials each).
#pragma GCC unroll 2
      for (size_t k = 0; k < 2; ++k) {
        u[k] = _mm512_add_epi32(
            ShuffleLanesI32<0x44>(z[2 * k], z[2 * k + 1]),
            ShuffleLanesI32<0xEE>(z[2 * k], z[2 * k + 1]));
      }
      // u[k] quarter q: rows 8k + q and 8k + 4 + q, 2 partials each; then
      // isum lane 4q + s: row 4s + q.
      const __m512i isum = _mm512_add_epi32(
          ShuffleLanesI32<0x88>(u[0], u[1]),
          ShuffleLanesI32<0xDD>(u[0], u[1]));
      const __m512i d16 = _mm512_i32gather_epi32(row_off, blk, 1);
      const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d16));
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(fp16_to_fp32(x[b].d)));
      acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), scale, acc);
    }
    _mm512_storeu_ps(args.y + r, _mm512_permutexvar_ps(lane_row, acc));
  }
  return r;
}
#endif

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
// Q8_0 rows [r, r + 8k) of a GEMV, 8 rows at a time with row i in f32 lane
// i (the AVX2 form of GemvQ8_0Rows16): per block the 8 exact int32 isums
// from sign-extended int16 products (vpmaddwd: |pair| <= 2 * 128 * 128 =
// 2^15, no saturation) and a 9-instruction hadd tree, then one cvt, one
// multiply (d_w * d_a) and one fma for the 8 rows: the contract's operations
// per row, in block order; the next 8 rows prefetched (PrefetchShare).
// Returns the first row it did not process.
inline size_t GemvQ8_0Rows8(const GemvArgs& args, size_t row_begin, size_t row_end) {
  constexpr size_t kQK = BlockQ8_0::kElements;
  static_assert(kQK == 32 && sizeof(BlockQ8_0) == 34);
  const auto* x = static_cast<const BlockQ8_0*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  const size_t nb = args.k / kQK;
  const size_t rb = args.w_row_bytes;
  const auto load16 = [](const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); };
  size_t r = row_begin;
  for (; r + 8 <= row_end; r += 8) {
    const uint8_t* base = w_base + r * rb;
    const uint8_t* next = base + 8 * rb;
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
      PrefetchShare(next, b, 8 * sizeof(BlockQ8_0));
      const uint8_t* blk = base + b * sizeof(BlockQ8_0);
      const __m256i a_lo = _mm256_cvtepi8_epi16(load16(x[b].qs));
      const __m256i a_hi = _mm256_cvtepi8_epi16(load16(x[b].qs + 16));
      __m256i p[8];
#pragma GCC unroll 8
      for (size_t j = 0; j < 8; ++j) {
        const uint8_t* q = blk + j * rb + 2;
        p[j] = _mm256_add_epi32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(load16(q)), a_lo),
                                _mm256_madd_epi16(_mm256_cvtepi8_epi16(load16(q + 16)), a_hi));
      }
      // Halves: rows 0..3 then 4..7 per 128-bit half, each half one part of
      // the row's 8 lanes; the two halves added give rows 0..7 in order.
      const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
      const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
      const __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20),
                                            _mm256_permute2x128_si256(h0, h1, 0x31));
      const auto d = [&](size_t j) {
        uint16_t h;
        std::memcpy(&h, blk + j * rb, sizeof h);
        return static_cast<short>(h);
      };
      // F16C: exact, as fp16_to_fp32.
      const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16(d(0), d(1), d(2), d(3), d(4), d(5), d(6), d(7)));
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(fp16_to_fp32(x[b].d)));
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc);
    }
    _mm256_storeu_ps(args.y + r, acc);
  }
  return r;
}
#endif

// Rows [row_begin, row_end) for weights of Block (Q8_0 or Q4_0) against one
// Q8_0 activation row, kRowsPerStep rows sharing each activation block: per
// block the exact int32 isum of the codes (Q4_0: nibble - 8) times the
// activations, then acc = fma(float(isum), d_w * d_a, acc), as
// vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0.
template <class Block, size_t kRowsPerStep>
inline void GemvSym32Q8_0Rows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  constexpr bool kNibbles = std::is_same_v<Block, BlockQ4_0>;
  const auto* x = static_cast<const BlockQ8_0*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  auto row_ptr = [&](size_t r) { return reinterpret_cast<const Block*>(w_base + r * args.w_row_bytes); };
#if HWY_TARGET == HWY_SCALAR
  for (size_t r = row_begin; r < row_end; ++r) {
    if constexpr (kNibbles) {
      args.y[r] = vec_dot_q4_0_q8_0(row_ptr(r), x, args.k);
    } else {
      args.y[r] = vec_dot_q8_0_q8_0(row_ptr(r), x, args.k);
    }
  }
#else
  namespace hn = hwy::HWY_NAMESPACE;
  constexpr size_t kQK = Block::kElements;
  static_assert(kQK == 32);
  // At most one block per vector; Q4_0 at most one nibble half (16 codes).
  const hn::CappedTag<int16_t, kNibbles ? 16 : 32> d16;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Rebind<uint8_t, decltype(d16)> du8;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const size_t N = hn::Lanes(d16);  // a power of two: divides the block (and its halves)
  const size_t nb = args.k / kQK;
  // Codes of elements [j, j + N) of a block as int16.
  const auto codes = [&](const Block& wb, size_t j) {
    if constexpr (kNibbles) {
      const auto bytes = hn::LoadU(du8, wb.qs + j % 16);
      auto nib = hn::ShiftRight<4>(bytes);  // elements 16..31: high nibbles
      if (j < 16) nib = hn::And(bytes, hn::Set(du8, 0x0F));
      return hn::Sub(hn::BitCast(d16, hn::PromoteTo(hn::Rebind<uint16_t, decltype(d16)>(), nib)), hn::Set(d16, 8));
    } else {
      return hn::PromoteTo(d16, hn::LoadU(d8, wb.qs + j));
    }
  };
  for (size_t r = row_begin; r < row_end; r += kRowsPerStep) {
    const size_t R = std::min(kRowsPerStep, row_end - r);
    const Block* rows[kRowsPerStep];
    float acc[kRowsPerStep] = {};
    for (size_t i = 0; i < R; ++i) rows[i] = row_ptr(r + i);
    for (size_t b = 0; b < nb; ++b) {
      const float da = fp16_to_fp32(x[b].d);
      for (size_t i = 0; i < R; ++i) {
        const Block& wb = rows[i][b];
        auto s0 = hn::Zero(d32);
        auto s1 = hn::Zero(d32);
        for (size_t j = 0; j < kQK; j += N) {
          const auto a = hn::PromoteTo(d16, hn::LoadU(d8, x[b].qs + j));
          s0 = hn::ReorderWidenMulAccumulate(d32, codes(wb, j), a, s0, s1);
        }
        const int32_t isum = hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s1)));
        acc[i] = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * da, acc[i]);
      }
    }
    for (size_t i = 0; i < R; ++i) args.y[r + i] = acc[i];
  }
#endif
}

#if TRIX_ARM_BYTES_TARGET
#if HWY_TARGET == HWY_NEON
TRIX_ARM_DOTPROD_BEGIN  // NeonBytes<true> inlines sdot (see arm_dot-inl.h)
#endif
// Q8_0 rows 4 at a time with byte-dot steps B (a last group of fewer rows
// repeats its last row and stores only its own).
template <class B>
inline void GemvQ8_0RowsArm(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const auto* x = static_cast<const BlockQ8_0*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  const size_t nb = args.k / BlockQ8_0::kElements;
  for (size_t r = row_begin; r < row_end; r += 4) {
    const size_t R = std::min<size_t>(4, row_end - r);
    const BlockQ8_0* rows[4];
    for (size_t i = 0; i < 4; ++i) {
      rows[i] = reinterpret_cast<const BlockQ8_0*>(w_base + (r + std::min(i, R - 1)) * args.w_row_bytes);
    }
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; ++b) {
      alignas(16) int32_t isum[4];
      alignas(16) float dw[4];
#pragma GCC unroll 4
      for (size_t i = 0; i < 4; ++i) {
        isum[i] = B::DotTotal32(rows[i][b].qs, x[b].qs);
        dw[i] = fp16_to_fp32(rows[i][b].d);
      }
      const float32x4_t scale = vmulq_n_f32(vld1q_f32(dw), fp16_to_fp32(x[b].d));
      acc = vfmaq_f32(acc, vcvtq_f32_s32(vld1q_s32(isum)), scale);
    }
    alignas(16) float y[4];
    vst1q_f32(y, acc);
    for (size_t i = 0; i < R; ++i) args.y[r + i] = y[i];
  }
}
#if HWY_TARGET == HWY_NEON
TRIX_ARM_DOTPROD_END
#endif
#endif  // TRIX_ARM_BYTES_TARGET

template <size_t kRowsPerStep>
inline void GemvQ8_0Q8_0Rows(const GemvArgs& args, size_t row_begin, size_t row_end) {
#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
#if HWY_TARGET == HWY_AVX3_DL
  row_begin = GemvQ8_0Rows16(args, row_begin, row_end);
#endif
  row_begin = GemvQ8_0Rows8(args, row_begin, row_end);  // the rest below
#elif HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64
  if (arm_has_dotprod()) {
    GemvQ8_0RowsArm<arm_dot::NeonBytes<true>>(args, row_begin, row_end);
  } else {
    GemvQ8_0RowsArm<arm_dot::NeonBytes<false>>(args, row_begin, row_end);
  }
  return;
#elif TRIX_ARM_BYTES_TARGET
  GemvQ8_0RowsArm<arm_dot::SveBytes>(args, row_begin, row_end);
  return;
#endif
  GemvSym32Q8_0Rows<BlockQ8_0, kRowsPerStep>(args, row_begin, row_end);
}

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
// The 32 codes (0..15) of a Q4_0 block: bytes 0..15 the low nibbles, bytes
// 16..31 the high ones.
HWY_INLINE __m256i Q4_0Codes(const BlockQ4_0& b) {
  const __m256i q = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
  const __m256i both = _mm256_blend_epi32(q, _mm256_srli_epi16(q, 4), 0xF0);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// The totals of the 8 int32 lanes of each of v[0..3] (exact: int32 sums in
// any order).
HWY_INLINE __m128i Totals4(const __m256i (&v)[4]) {
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// Q4_0 rows on AVX2 (and the AVX-512 targets, the same 256-bit code): per
// block the codes u = nibble (0..15) times the activations with vpmaddubsw
// (|pair| <= 2 * 15 * 128, exact) and vpmaddwd, so isum = sum u * a - 8 *
// sum a; four blocks' lane totals in one reduction; then the contract's
// fmas, one block after the other. Each group of 4 blocks' activations (and
// their sums, scales) is loaded once for kRowsPerStep rows.
template <size_t kRowsPerStep>
inline void GemvQ4_0Rows256(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const auto* x = static_cast<const BlockQ8_0*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  const size_t nb = args.k / BlockQ4_0::kElements;
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (size_t r = row_begin; r < row_end; r += kRowsPerStep) {
    const size_t R = std::min(kRowsPerStep, row_end - r);
    const BlockQ4_0* rows[kRowsPerStep];
    float acc[kRowsPerStep] = {};
    for (size_t i = 0; i < R; ++i) rows[i] = reinterpret_cast<const BlockQ4_0*>(w_base + (r + i) * args.w_row_bytes);
    for (size_t b = 0; b < nb; b += 4) {
      const size_t g = std::min<size_t>(4, nb - b);  // blocks in this group; the rest stay zero
      __m256i a[4], asum[4];
      for (size_t j = 0; j < 4; ++j) {
        a[j] = j < g ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b + j].qs)) : _mm256_setzero_si256();
        asum[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, a[j]), ones16);
      }
      // The 4 blocks' f16 scales (0 past the group) -> f32 with F16C: exact,
      // as fp16_to_fp32. Built in registers (a store and a wider reload would
      // stall store forwarding).
      const auto scales_of = [g](auto&& d_of) {
        const auto h = [&](size_t j) { return static_cast<short>(j < g ? d_of(j) : 0); };
        return _mm_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), 0, 0, 0, 0));
      };
      const __m128 da = scales_of([&](size_t j) { return x[b + j].d; });
      const __m128i offset = _mm_slli_epi32(Totals4(asum), 3);  // 8 * sum a
      for (size_t i = 0; i < R; ++i) {
        __m256i p[4];
        for (size_t j = 0; j < 4; ++j) {
          p[j] = j < g ? _mm256_madd_epi16(_mm256_maddubs_epi16(Q4_0Codes(rows[i][b + j]), a[j]), ones16)
                       : _mm256_setzero_si256();
        }
        alignas(16) float isum[4], scale[4];
        _mm_store_ps(scale, _mm_mul_ps(scales_of([&](size_t j) { return rows[i][b + j].d; }), da));
        _mm_store_ps(isum, _mm_cvtepi32_ps(_mm_sub_epi32(Totals4(p), offset)));
        for (size_t j = 0; j < g; ++j) acc[i] = std::fma(isum[j], scale[j], acc[i]);
      }
    }
    for (size_t i = 0; i < R; ++i) args.y[r + i] = acc[i];
  }
}
#endif

template <size_t kRowsPerStep>
inline void GemvQ4_0Q8_0Rows(const GemvArgs& args, size_t row_begin, size_t row_end) {
#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
  GemvQ4_0Rows256<kRowsPerStep>(args, row_begin, row_end);
#else
  GemvSym32Q8_0Rows<BlockQ4_0, kRowsPerStep>(args, row_begin, row_end);
#endif
}

// One row at a time (no rows_per_step): x stays in L1, the rows stream.
inline void GemvF16F32Rows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const auto* x = static_cast<const float*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  auto row_ptr = [&](size_t r) { return reinterpret_cast<const uint16_t*>(w_base + r * args.w_row_bytes); };
#if HWY_TARGET == HWY_SCALAR || !HWY_NATIVE_FMA
  for (size_t r = row_begin; r < row_end; ++r) args.y[r] = kernels::gemv_f16_f32_row_ref(row_ptr(r), x, args.k);
#else
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::CappedTag<float, 16> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const size_t N = hn::Lanes(df);  // 4, 8 or 16 on these targets
  const size_t k = args.k;
  for (size_t r = row_begin; r < row_end; ++r) {
    const auto* w = reinterpret_cast<const hwy::float16_t*>(row_ptr(r));
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    auto step = [&](const hwy::float16_t* wp, const float* xp) {
      a0 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp)), hn::LoadU(df, xp), a0);
      if (N <= 8) a1 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp + N)), hn::LoadU(df, xp + N), a1);
      if (N == 4) {
        a2 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp + 2 * N)), hn::LoadU(df, xp + 2 * N), a2);
        a3 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp + 3 * N)), hn::LoadU(df, xp + 3 * N), a3);
      }
    };
    size_t i = 0;
    for (; i + 16 <= k; i += 16) step(w + i, x + i);
    if (i < k) {
      alignas(64) uint16_t wt[16] = {};
      alignas(64) float xt[16] = {};
      std::memcpy(wt, w + i, (k - i) * sizeof(uint16_t));
      std::memcpy(xt, x + i, (k - i) * sizeof(float));
      step(reinterpret_cast<const hwy::float16_t*>(wt), xt);
    }
    alignas(64) float lanes[16];
    hn::StoreU(a0, df, lanes);
    if (N <= 8) hn::StoreU(a1, df, lanes + N);
    if (N == 4) {
      hn::StoreU(a2, df, lanes + 2 * N);
      hn::StoreU(a3, df, lanes + 3 * N);
    }
    args.y[r] = lanes16_combine(lanes);
  }
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
#include "trix/cpu/target_end-inl.h"

#endif  // TRIX_CPU_GEMV_DENSE_INL_H_
