// Per-target GEMV and GEMM over packed4 ternary weights (ternary_packed.h):
// TQ2_0 and TQ1_0 with Q8_K activations (block-scaled, the lanes16 contract
// of trix/kernels/gemv_tq2_0_q8_k.body.h, bit for bit), and I2_S with
// per-token int8 activations (the integer contract of vec_dot_i2_s_i8, bit
// for bit). Included once per Highway target, hence the toggle guard.
//
// Per row and 256-weight block, the 16 lane sums are
//   init[l] + sum_n dot4(field_n(codes)[4l..4l+3], act[n][4l..4l+3])
// with init = -(lane's activation sum) (+ kMagicBits for the block-scaled
// contract) and dot4 the "dot of 4 adjacent u8 x s8 bytes into int32":
// vpdpbusd (AVX3_DL), vpmaddubsw + vpmaddwd (AVX3, AVX2), sdot or vmull +
// vpadal on aarch64 NEON (trix/cpu/arm_dot-inl.h; sdot when the CPU has
// FEAT_DotProd, checked once per call), svdot (SVE, SVE2, any vector length),
// int32 lane arithmetic (portable Highway path: every other target, SSE4,
// EMU128, SCALAR). All integer steps are exact, so every path gives the
// same lane sums; the float steps are the contract's:
//   block-scaled: acc_l = fma(float(s_l), d_w * d_a, acc_l) per block, then
//                 lanes16_combine;
//   I2_S:         isum = sum over blocks and lanes (int32), then
//                 float(isum) / act_scale * tensor_scale.
//
// Integer ranges: codes are 0..3 and |q| <= 128. vpmaddubsw adds two
// products, |pair| <= 2 * 3 * 128 = 768 < 32767: no int16 saturation.
// A block lane sum is at most 16 * 3 * 128 + 16 * 128 = 8192 in magnitude
// (with the init), far inside the |s| < 2^22 of the kMagicBits conversion;
// an I2_S row sum is at most 2 * 128 * cols < 2^24 for cols <= 65536, so
// float(isum) is exact there too.
//
// GEMV shares the 4 activation vectors of a block across the 4 rows of a
// group; GEMM (AVX-512) extracts the 16 code fields of a group's block once
// and runs them against a tile of up to kTokens tokens whose activations
// stay in L1 across the row groups (with the I2_S dot products summed in
// int32 straight across blocks and the init values added once: integer
// sums are exact in any order; intermediate sums stay below 3 * 128 * cols
// < 2^31); other targets run the GEMV per token inside each group, so the
// group's codes stay in L1 across tokens. Both give, per (row, token), the
// exact operations of the GEMV: results are bit-identical to n GEMVs.
#if defined(TRIX_CPU_TERNARY_PACKED_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_TERNARY_PACKED_INL_H_
#undef TRIX_CPU_TERNARY_PACKED_INL_H_
#else
#define TRIX_CPU_TERNARY_PACKED_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "trix/core/fp16.h"
#include "trix/cpu/arm_features.h"
#include "trix/cpu/ternary_packed.h"
#include "trix/kernels/lanes16.h"
// Per-target helper; its own toggle guard (include before target_begin-inl.h).
#include "trix/cpu/arm_dot-inl.h"  // IWYU pragma: keep

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
#include <immintrin.h>
#endif

// GFNI instructions are written only on the path GemvGroups takes after a
// runtime check (Highway's AVX3_DL check does not include GFNI).
#define TRIX_TARGET_WITH_GFNI
#include "trix/cpu/target_begin-inl.h"  // Highway's attributes; AVX3_DL: +avx512vnni,gfni
namespace trix::cpu {
namespace HWY_NAMESPACE {
namespace detail {

// Writes the (up to) 4 results of group g for token t.
template <bool kScaled>
inline void store_group(const PackedMatmulArgs& a, size_t t, size_t g, const float* acc_f,
                        const int32_t* acc_i) {
  const uint8_t* act = a.acts + t * a.act_stride;
  const float act_scale =
      reinterpret_cast<const float*>(act + a.w.n_blocks * kPackedActBlockBytes)[0];
  for (size_t i = 0; i < kPackedRows; ++i) {
    const size_t r = g * kPackedRows + i;
    if (r >= a.w.rows) break;
    float out;
    if constexpr (kScaled) {
      float v[16];
      std::memcpy(v, acc_f + 16 * i, sizeof v);
      out = lanes16_combine(v);
    } else {
      int32_t isum = 0;
      for (size_t l = 0; l < 16; ++l) isum += acc_i[16 * i + l];
      out = static_cast<float>(isum) / act_scale * a.w.tensor_scale;
    }
    a.y[t * a.y_stride + r] = out;
  }
}

// The rows-outside, blocks-inside loop of one token over groups g0..g1-1:
// row_block(ab, wr, scale, acc_f_row, acc_i_row) adds block b of row i (its
// activation block ab, its 64 code bytes wr, the float scale dw * da when
// kScaled) into that row's 16 lane accumulators; store_group finishes.
template <bool kScaled, class RowBlock>
inline void ForGroupRowBlocks(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1,
                              const RowBlock& row_block) {
  const PackedTernaryView& w = a.w;
  const size_t nb = w.n_blocks;
  const uint8_t* act = a.acts + t * a.act_stride;
  const float* da = reinterpret_cast<const float*>(act + nb * kPackedActBlockBytes);
  for (size_t g = g0; g < g1; ++g) {
    const uint8_t* wg = w.group(g);
    const float* dw = kScaled ? w.scales(g) : nullptr;
    alignas(64) float acc_f[64] = {};
    alignas(64) int32_t acc_i[64] = {};
    for (size_t i = 0; i < 4 && g * kPackedRows + i < w.rows; ++i) {
      for (size_t b = 0; b < nb; ++b) {
        row_block(act + b * kPackedActBlockBytes, wg + (b * kPackedRows + i) * kPackedCodeBytes,
                  kScaled ? dw[b * 4 + i] * da[b] : 0.0f, acc_f + 16 * i, acc_i + 16 * i);
      }
    }
    store_group<kScaled>(a, t, g, acc_f, acc_i);
  }
}

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3

HWY_INLINE __m512i Dot4(__m512i sum, __m512i codes, __m512i act) {
#if HWY_TARGET == HWY_AVX3_DL
  return _mm512_dpbusd_epi32(sum, codes, act);
#else
  return _mm512_add_epi32(sum, _mm512_madd_epi16(_mm512_maddubs_epi16(codes, act),
                                                 _mm512_set1_epi16(1)));
#endif
}

// Code field n (0..3) of every code byte, as a byte 0..3. With kGfni, one
// gf2p8affineqb per field (bits 2n, 2n + 1 of each byte to bits 0, 1; the
// matrix row for output bit i is byte 7 - i) instead of a 16-bit shift and a
// mask: 10 instead of 13 vector ALU uops per row and block, which is what
// the GEMV's in-cache speed is bound by (2560x2560 hot, 1 thread: 225 ->
// 255 GOPS).
template <int n, bool kGfni>
HWY_INLINE __m512i CodeField(__m512i codes, __m512i m3) {
  if constexpr (n == 0) {
    return _mm512_and_si512(codes, m3);
  } else if constexpr (kGfni) {
    constexpr uint64_t kMatrix = (uint64_t{1} << (2 * n) << 56) | (uint64_t{1} << (2 * n + 1) << 48);
    return _mm512_gf2p8affine_epi64_epi8(codes, _mm512_set1_epi64(static_cast<long long>(kMatrix)), 0);
  } else {
    return _mm512_and_si512(_mm512_srli_epi16(codes, 2 * n), m3);
  }
}

// Blocks of one group per kGemvScaleChunk: the contract's per-(row, block)
// scale d_w * d_a for a chunk of blocks first (4 rows' products in one
// 128-bit multiply, to a stack buffer), so the block loop's FMA takes it as
// a broadcast memory operand instead of a scalar multiply and a register
// broadcast per row.
inline constexpr size_t kGemvScaleChunk = 64;

// How far ahead of the block being read GemvGroupsAvx512 prefetches its
// sequential code stream (8 blocks of 4 rows).
inline constexpr size_t kGemvPrefetchBytes = 2048;

template <bool kScaled, bool kGfni>
inline void GemvGroupsAvx512(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1) {
  const PackedTernaryView& w = a.w;
  const size_t nb = w.n_blocks;
  const uint8_t* act = a.acts + t * a.act_stride;
  const float* da = reinterpret_cast<const float*>(act + nb * kPackedActBlockBytes);
  const __m512i m3 = _mm512_set1_epi8(3);
  const __m512 magic = _mm512_set1_ps(kMagicFloat);
  alignas(64) float sc[kGemvScaleChunk * 4];
  for (size_t g = g0; g < g1; ++g) {
    const uint8_t* wg = w.group(g);
    const float* dw = kScaled ? w.scales(g) : nullptr;
    __m512 acc[4];
    __m512i iacc[4];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
      acc[i] = _mm512_setzero_ps();
      iacc[i] = _mm512_setzero_si512();
    }
    for (size_t b0 = 0; b0 < nb; b0 += kGemvScaleChunk) {
      const size_t b1 = std::min(nb, b0 + kGemvScaleChunk);
      if constexpr (kScaled) {
        for (size_t b = b0; b < b1; ++b) {
          _mm_store_ps(sc + 4 * (b - b0), _mm_mul_ps(_mm_load_ps(dw + 4 * b), _mm_set1_ps(da[b])));
        }
      }
      for (size_t b = b0; b < b1; ++b) {
        const uint8_t* ab = act + b * kPackedActBlockBytes;
        __m512i a0 = _mm512_load_si512(ab);
        __m512i a1 = _mm512_load_si512(ab + 64);
        __m512i a2 = _mm512_load_si512(ab + 128);
        __m512i a3 = _mm512_load_si512(ab + 192);
        const __m512i init = _mm512_load_si512(ab + 256);
        // Keep the activations in registers for all 4 rows: GCC 12 otherwise
        // folds these loads into every vpdpbusd and re-reads them per row.
        asm("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3));
        const uint8_t* wb = wg + b * kPackedRows * kPackedCodeBytes;
        // The 4 code lines kGemvPrefetchBytes ahead: the hardware streamer
        // stops at each 4 KiB page and restarts slowly, and in the model every
        // projection is a new stream. Whole BitNet-2B-4T TQ2_0 decode, 1
        // thread, loaded 2-core VM, two runs each: no prefetch 13.0 tok/s,
        // 1 KiB 13.8-14.3, 2 KiB 15.3-16.1, 4 KiB 14.5-15.8.
        for (size_t i = 0; i < 4; ++i) {
          _mm_prefetch(reinterpret_cast<const char*>(wb) + kGemvPrefetchBytes + 64 * i, _MM_HINT_T0);
        }
        const float* scb = sc + 4 * (b - b0);
#pragma GCC unroll 4
        for (size_t i = 0; i < 4; ++i) {
          __m512i codes = _mm512_load_si512(wb + kPackedCodeBytes * i);
          asm("" : "+v"(codes));  // one load, not one per shift
__m512i s = Dot4(init, CodeField<0, kGfni>(codes, m3), a0);
          s = Dot4(s, CodeField<1, kGfni>(codes, m3), a1);
          s = Dot4(s, CodeField<2, kGfni>(codes, m3), a2);
          s = Dot4(s, CodeField<3, kGfni>(codes, m3), a3);
          if constexpr (kScaled) {
            const __m512 v = _mm512_sub_ps(_mm512_castsi512_ps(s), magic);
            acc[i] = _mm512_fmadd_ps(v, _mm512_set1_ps(scb[i]), acc[i]);
          } else {
            iacc[i] = _mm512_add_epi32(iacc[i], s);
          }
        }
      }
    }
    alignas(64) float acc_f[64];
    alignas(64) int32_t acc_i[64];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
      _mm512_store_ps(acc_f + 16 * i, acc[i]);
      _mm512_store_si512(acc_i + 16 * i, iacc[i]);
    }
    store_group<kScaled>(a, t, g, acc_f, acc_i);
  }
}

template <bool kScaled>
inline void GemvGroups(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1) {
#if HWY_TARGET == HWY_AVX3_DL
  // Highway 1.0.3's AVX3_DL runtime check does not include GFNI (every CPU
  // it selects has it in practice: Ice Lake and later, Zen 4); checked once.
  static const bool has_gfni = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("gfni") != 0;
  }();
  if (has_gfni) return GemvGroupsAvx512<kScaled, true>(a, t, g0, g1);
#endif
  GemvGroupsAvx512<kScaled, false>(a, t, g0, g1);
}

// Two-source shuffles (128-bit quarters; f32 lanes within quarters). The
// merge-masked forms with a full mask are the same instructions; the plain
// intrinsics start from _mm512_undefined_ps(), which GCC 12 -O3 reports as
// an uninitialized use under -Werror.
template <int kImm>
HWY_INLINE __m512 ShuffleQuarters(__m512 a, __m512 b) {
  return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, kImm);
}
template <int kImm>
HWY_INLINE __m512 ShuffleLanes(__m512 a, __m512 b) {
  return _mm512_mask_shuffle_ps(a, 0xFFFF, a, b, kImm);
}

// f32 or int32 lane-wise add of two vectors.
template <bool kFloat>
HWY_INLINE __m512 Add16(__m512 x, __m512 y) {
  if constexpr (kFloat) {
    return _mm512_add_ps(x, y);
  } else {
    return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(x), _mm512_castps_si512(y)));
  }
}
// lanes16_combine of 16 vectors at once: each step adds, for every
// vector, lane l and lane l ^ m (m = 8, 4, 2, 1: the butterfly's operands,
// and float addition is commutative, so the bits are lanes16_combine's),
// packing two vectors' halves into one. In: v[4 * i + t] (row i, token t).
// Out: lane 4 * t + i holds that vector's combination (kFloat) or its int32
// lane sum (any order is exact).
template <bool kFloat>
HWY_INLINE __m512 Combine16(const __m512* v) {
  __m512 w[8], z[4], p[2];
#pragma GCC unroll 8
  for (size_t k = 0; k < 8; ++k) {  // m = 8: 128-bit quarters 0,1 + 2,3
    w[k] = Add16<kFloat>(ShuffleQuarters<0x44>(v[2 * k], v[2 * k + 1]),
                         ShuffleQuarters<0xEE>(v[2 * k], v[2 * k + 1]));
  }
#pragma GCC unroll 4
  for (size_t k = 0; k < 4; ++k) {  // m = 4: quarter 0 + 1 of each half
    z[k] = Add16<kFloat>(ShuffleQuarters<0x88>(w[2 * k], w[2 * k + 1]),
                         ShuffleQuarters<0xDD>(w[2 * k], w[2 * k + 1]));
  }
#pragma GCC unroll 2
  for (size_t k = 0; k < 2; ++k) {  // m = 2 inside each quarter
    p[k] = Add16<kFloat>(ShuffleLanes<0x44>(z[2 * k], z[2 * k + 1]),
                         ShuffleLanes<0xEE>(z[2 * k], z[2 * k + 1]));
  }
  return Add16<kFloat>(ShuffleLanes<0x88>(p[0], p[1]), ShuffleLanes<0xDD>(p[0], p[1]));
}

// Writes the results of group g for tokens [t, t + nt), nt <= 4, from the
// tile's accumulators (4 rows x 16 lanes per token): the exact operations of
// store_group, 16 results per vector instruction.
template <bool kScaled>
HWY_INLINE void StoreGroupTokens4(const PackedMatmulArgs& a, size_t g, size_t t, size_t nt,
                                  const float (*acc_f)[64], const int32_t (*acc_i)[64],
                                  const int32_t (*init_i)[16]) {
  __m512 v[16];
#pragma GCC unroll 4
  for (size_t tt = 0; tt < 4; ++tt) {
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
      if (tt >= nt) {
        v[4 * i + tt] = _mm512_setzero_ps();
      } else if constexpr (kScaled) {
        v[4 * i + tt] = _mm512_load_ps(acc_f[tt] + 16 * i);
      } else {
        v[4 * i + tt] = _mm512_castsi512_ps(
            _mm512_add_epi32(_mm512_load_si512(acc_i[tt] + 16 * i), _mm512_load_si512(init_i[tt])));
      }
    }
  }
  __m512 out = Combine16<kScaled>(v);
  if constexpr (!kScaled) {
    // float(isum) / act_scale * tensor_scale, per lane (token t + lane / 4).
    alignas(64) float act_scale[16];
    for (size_t tt = 0; tt < 4; ++tt) {
      const float s = tt < nt ? reinterpret_cast<const float*>(a.acts + (t + tt) * a.act_stride +
                                                               a.w.n_blocks * kPackedActBlockBytes)[0]
                              : 1.0f;
      for (size_t i = 0; i < 4; ++i) act_scale[4 * tt + i] = s;
    }
    // Full-mask merge form of vcvtdq2ps (see ShuffleQuarters for why).
    const __m512 fsum = _mm512_mask_cvtepi32_ps(out, 0xFFFF, _mm512_castps_si512(out));
    out = _mm512_mul_ps(_mm512_div_ps(fsum, _mm512_load_ps(act_scale)),
                        _mm512_set1_ps(a.w.tensor_scale));
  }
  alignas(64) float res[16];
  _mm512_store_ps(res, out);
  const size_t n_rows = std::min(kPackedRows, a.w.rows - g * kPackedRows);
  for (size_t tt = 0; tt < nt; ++tt) {
    std::memcpy(a.y + (t + tt) * a.y_stride + g * kPackedRows, res + 4 * tt, n_rows * sizeof(float));
  }
}

// The cache budgets come from the kernel spec (Config, the generated
// kernels::<name>::CpuHighway): kL1ActTileBytes for one token tile's
// prepared activations (the tile is reused by every row group of the call,
// so it must stay in L1 next to the group's codes and accumulators), and
// kL2CodeChunkBytes for the codes of the row groups that one pass of token
// tiles runs over (they stay in L2 next to the tiles' activations passing
// through).
// Blocks whose activation scales are gathered per tile at a time (a fixed
// stack buffer: kGemmScaleChunk * kTokens floats).
inline constexpr size_t kGemmScaleChunk = 32;

// Tokens [t0, t0 + nt) of group g, nt <= kTokens. Per block, the 16 code
// fields of the group are extracted once and met by every token; per token
// that leaves 16 dot instructions, and per row one float conversion and
// one FMA whose scale (d_w * d_a, one float multiply as in the contract)
// was computed for all tokens of the tile with one vector multiply and is
// broadcast from memory. The I2_S variant accumulates the dot products
// directly in int32 and adds the tokens' init values once per block.
template <bool kScaled, size_t kTokens>
inline void GemmGroupTile(const PackedMatmulArgs& a, size_t g, size_t t0, size_t nt) {
  static_assert(kTokens >= 1 && kTokens <= 16, "tokens_per_tile: one f32 vector of scales");
  const PackedTernaryView& w = a.w;
  const size_t nb = w.n_blocks;
  const __m512i m3 = _mm512_set1_epi8(3);
  const __m512 magic = _mm512_set1_ps(kMagicFloat);
  alignas(64) float acc_f[kTokens][64];
  alignas(64) int32_t acc_i[kTokens][64];
  alignas(64) int32_t init_i[kTokens][16];
  for (size_t tt = 0; tt < nt; ++tt) {
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
      _mm512_store_ps(acc_f[tt] + 16 * i, _mm512_setzero_ps());
      _mm512_store_si512(acc_i[tt] + 16 * i, _mm512_setzero_si512());
    }
    _mm512_store_si512(init_i[tt], _mm512_setzero_si512());
  }
  const uint8_t* wg = w.group(g);
  const float* dw = kScaled ? w.scales(g) : nullptr;
  const uint8_t* act0 = a.acts + t0 * a.act_stride;
  // [block in chunk][token]; lanes of absent tokens stay 0, not stack
  // garbage (a denormal there would cost a microcode assist per multiply).
  alignas(64) float da_t[kGemmScaleChunk][16] = {};
  alignas(64) float sc[4][16];                   // [row][token]: d_w * d_a
  for (size_t b = 0; b < nb; ++b) {
    if constexpr (kScaled) {
      const size_t bc = b % kGemmScaleChunk;
      if (bc == 0) {
        const size_t n_chunk = std::min(kGemmScaleChunk, nb - b);
        for (size_t tt = 0; tt < nt; ++tt) {
          const float* da =
              reinterpret_cast<const float*>(act0 + tt * a.act_stride + nb * kPackedActBlockBytes) + b;
          for (size_t j = 0; j < n_chunk; ++j) da_t[j][tt] = da[j];
        }
      }
      const __m512 dav = _mm512_load_ps(da_t[bc]);  // lanes >= nt unused
#pragma GCC unroll 4
      for (size_t i = 0; i < 4; ++i) {
        _mm512_store_ps(sc[i], _mm512_mul_ps(_mm512_set1_ps(dw[b * 4 + i]), dav));
      }
    }
    const uint8_t* wb = wg + b * kPackedRows * kPackedCodeBytes;
    __m512i f[4][4];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
      __m512i codes = _mm512_load_si512(wb + kPackedCodeBytes * i);
      asm("" : "+v"(codes));  // one load, not one per shift
      f[i][0] = _mm512_and_si512(codes, m3);
      f[i][1] = _mm512_and_si512(_mm512_srli_epi16(codes, 2), m3);
      f[i][2] = _mm512_and_si512(_mm512_srli_epi16(codes, 4), m3);
      f[i][3] = _mm512_and_si512(_mm512_srli_epi16(codes, 6), m3);
    }
    const uint8_t* ab = act0 + b * kPackedActBlockBytes;
    for (size_t tt = 0; tt < nt; ++tt, ab += a.act_stride) {
      __m512i a0 = _mm512_load_si512(ab);
      __m512i a1 = _mm512_load_si512(ab + 64);
      __m512i a2 = _mm512_load_si512(ab + 128);
      __m512i a3 = _mm512_load_si512(ab + 192);
      asm("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3));  // loaded once for 4 rows
      if constexpr (kScaled) {
        const __m512i init = _mm512_load_si512(ab + 256);
#pragma GCC unroll 4
        for (size_t i = 0; i < 4; ++i) {
          __m512i s = Dot4(init, f[i][0], a0);
          s = Dot4(s, f[i][1], a1);
          s = Dot4(s, f[i][2], a2);
          s = Dot4(s, f[i][3], a3);
          const __m512 v = _mm512_sub_ps(_mm512_castsi512_ps(s), magic);
          _mm512_store_ps(acc_f[tt] + 16 * i, _mm512_fmadd_ps(v, _mm512_set1_ps(sc[i][tt]),
                                                               _mm512_load_ps(acc_f[tt] + 16 * i)));
        }
      } else {
        // Integer sums are associative: the init values (the same for the
        // 4 rows) are summed once per token and added at the end.
        _mm512_store_si512(init_i[tt], _mm512_add_epi32(_mm512_load_si512(init_i[tt]),
                                                        _mm512_load_si512(ab + 256)));
#pragma GCC unroll 4
        for (size_t i = 0; i < 4; ++i) {
          __m512i s = _mm512_load_si512(acc_i[tt] + 16 * i);
          s = Dot4(s, f[i][0], a0);
          s = Dot4(s, f[i][1], a1);
          s = Dot4(s, f[i][2], a2);
          s = Dot4(s, f[i][3], a3);
          _mm512_store_si512(acc_i[tt] + 16 * i, s);
        }
      }
    }
  }
  for (size_t q0 = 0; q0 < nt; q0 += 4) {
    StoreGroupTokens4<kScaled>(a, g, t0 + q0, std::min<size_t>(4, nt - q0), acc_f + q0, acc_i + q0,
                               init_i + q0);
  }
}

// Full tiles of kTile tokens (the largest power of two <= tile): a
// compile-time token count, so the token loop has a fixed trip count.
template <bool kScaled, size_t kTokens, size_t kTile>
inline void GemmFullTiles(const PackedMatmulArgs& a, size_t c0, size_t c1, size_t t0, size_t tile) {
  if constexpr (kTile > 1) {
    if (tile < kTile) return GemmFullTiles<kScaled, kTokens, kTile / 2>(a, c0, c1, t0, tile);
  }
  for (size_t g = c0; g < c1; ++g) GemmGroupTile<kScaled, kTokens>(a, g, t0, kTile);
}

// Row-group chunks outside (about Config::kL2CodeChunkBytes of codes, which
// stay in L2 across the token tiles), token tiles inside them, row groups
// innermost: a tile's activations (as many tokens as fit
// Config::kL1ActTileBytes: a power of two, at most kTokensPerTile) stay in
// L1 while the chunk's codes stream past from L2; each activation byte is
// read from L2 once per chunk and each code byte once per tile.
template <bool kScaled, class Config>
inline void GemmGroups(const PackedMatmulArgs& a, size_t g0, size_t g1) {
  constexpr size_t kTokens = Config::kTokensPerTile;
  static_assert((kTokens & (kTokens - 1)) == 0, "tokens_per_tile: a power of two");
  const size_t per_token = a.w.n_blocks * kPackedActBlockBytes;
  size_t tile = kTokens;
  while (tile > 1 && tile * per_token > Config::kL1ActTileBytes) tile /= 2;
  const size_t chunk = std::max<size_t>(1, Config::kL2CodeChunkBytes / a.w.group_bytes());
  for (size_t c0 = g0; c0 < g1; c0 += chunk) {
    const size_t c1 = std::min(g1, c0 + chunk);
    size_t t0 = 0;
    for (; t0 + tile <= a.n_tok; t0 += tile) GemmFullTiles<kScaled, kTokens, kTokens>(a, c0, c1, t0, tile);
    if (t0 < a.n_tok) {
      for (size_t g = c0; g < c1; ++g) GemmGroupTile<kScaled, kTokens>(a, g, t0, a.n_tok - t0);
    }
  }
}

#elif HWY_TARGET == HWY_AVX2

template <bool kScaled>
inline void GemvGroups(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1) {
  const PackedTernaryView& w = a.w;
  const size_t nb = w.n_blocks;
  const uint8_t* act = a.acts + t * a.act_stride;
  const float* da = reinterpret_cast<const float*>(act + nb * kPackedActBlockBytes);
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256 magic = _mm256_set1_ps(kMagicFloat);
  auto dot4 = [&](__m256i sum, __m256i codes, const uint8_t* p) {
    const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
    return _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(codes, q), ones));
  };
  for (size_t g = g0; g < g1; ++g) {
    const uint8_t* wg = w.group(g);
    const float* dw = kScaled ? w.scales(g) : nullptr;
    alignas(32) float acc_f[64] = {};
    alignas(32) int32_t acc_i[64] = {};
    for (size_t i = 0; i < 4; ++i) {
      __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
      __m256i iacc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* ab = act + b * kPackedActBlockBytes;
        const uint8_t* wr = wg + (b * kPackedRows + i) * kPackedCodeBytes;
        for (size_t h = 0; h < 2; ++h) {  // lanes 0-7, 8-15
          const __m256i codes = _mm256_load_si256(reinterpret_cast<const __m256i*>(wr + 32 * h));
          __m256i s = _mm256_load_si256(reinterpret_cast<const __m256i*>(ab + 256 + 32 * h));
          s = dot4(s, _mm256_and_si256(codes, m3), ab + 32 * h);
          s = dot4(s, _mm256_and_si256(_mm256_srli_epi16(codes, 2), m3), ab + 64 + 32 * h);
          s = dot4(s, _mm256_and_si256(_mm256_srli_epi16(codes, 4), m3), ab + 128 + 32 * h);
          s = dot4(s, _mm256_and_si256(_mm256_srli_epi16(codes, 6), m3), ab + 192 + 32 * h);
          if constexpr (kScaled) {
            const __m256 v = _mm256_sub_ps(_mm256_castsi256_ps(s), magic);
            const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(dw[b * 4 + i]), _mm256_set1_ps(da[b]));
            acc[h] = _mm256_fmadd_ps(v, scale, acc[h]);
          } else {
            iacc[h] = _mm256_add_epi32(iacc[h], s);
          }
        }
      }
      for (size_t h = 0; h < 2; ++h) {
        _mm256_store_ps(acc_f + 16 * i + 8 * h, acc[h]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(acc_i + 16 * i + 8 * h), iacc[h]);
      }
    }
    store_group<kScaled>(a, t, g, acc_f, acc_i);
  }
}

#elif HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64

// Blocks outside, rows inside: per block, each quarter (4 lanes) of the
// activations is loaded once and meets the 4 rows' code quarters; the 16
// accumulators (4 rows x 4 quarters) stay in registers.
// Compiled with +dotprod (needed where vdotq_s32 is inlined); see
// arm_dot-inl.h for why the kSdot = false instance is safe without it.
TRIX_ARM_DOTPROD_BEGIN
template <bool kScaled, bool kSdot>
inline void GemvGroupsNeon(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1) {
  const PackedTernaryView& w = a.w;
  const size_t nb = w.n_blocks;
  const uint8_t* act = a.acts + t * a.act_stride;
  const float* da = reinterpret_cast<const float*>(act + nb * kPackedActBlockBytes);
  const float32x4_t magic = vdupq_n_f32(kMagicFloat);
  for (size_t g = g0; g < g1; ++g) {
    const uint8_t* wg = w.group(g);
    const float* dw = kScaled ? w.scales(g) : nullptr;
    float32x4_t acc[4][4];
    int32x4_t iacc[4][4];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
#pragma GCC unroll 4
      for (size_t h = 0; h < 4; ++h) {
        acc[i][h] = vdupq_n_f32(0.0f);
        iacc[i][h] = vdupq_n_s32(0);
      }
    }
    for (size_t b = 0; b < nb; ++b) {
      const uint8_t* ab = act + b * kPackedActBlockBytes;
      const int8_t* aq = reinterpret_cast<const int8_t*>(ab);
      const int32_t* init = reinterpret_cast<const int32_t*>(ab + 256);
      const uint8_t* wb = wg + b * kPackedRows * kPackedCodeBytes;
      float scale[4] = {};
      if constexpr (kScaled) {
        for (size_t i = 0; i < 4; ++i) scale[i] = dw[b * 4 + i] * da[b];
      }
#pragma GCC unroll 4
      for (size_t h = 0; h < 4; ++h) {
        const int8x16_t q0 = vld1q_s8(aq + 16 * h);
        const int8x16_t q1 = vld1q_s8(aq + 64 + 16 * h);
        const int8x16_t q2 = vld1q_s8(aq + 128 + 16 * h);
        const int8x16_t q3 = vld1q_s8(aq + 192 + 16 * h);
        const int32x4_t s0 = vld1q_s32(init + 4 * h);
#pragma GCC unroll 4
        for (size_t i = 0; i < 4; ++i) {
          const uint8x16_t codes = vld1q_u8(wb + kPackedCodeBytes * i + 16 * h);
          const int32x4_t s = arm_dot::Dot16<kSdot>(s0, codes, q0, q1, q2, q3);
          if constexpr (kScaled) {
            const float32x4_t v = vsubq_f32(vreinterpretq_f32_s32(s), magic);
            acc[i][h] = vfmaq_f32(acc[i][h], v, vdupq_n_f32(scale[i]));
          } else {
            iacc[i][h] = vaddq_s32(iacc[i][h], s);
          }
        }
      }
    }
    alignas(64) float acc_f[64];
    alignas(64) int32_t acc_i[64];
#pragma GCC unroll 4
    for (size_t i = 0; i < 4; ++i) {
#pragma GCC unroll 4
      for (size_t h = 0; h < 4; ++h) {
        vst1q_f32(acc_f + 16 * i + 4 * h, acc[i][h]);
        vst1q_s32(acc_i + 16 * i + 4 * h, iacc[i][h]);
      }
    }
    store_group<kScaled>(a, t, g, acc_f, acc_i);
  }
}
TRIX_ARM_DOTPROD_END

template <bool kScaled>
inline void GemvGroups(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1) {
  if (arm_has_dotprod()) {
    GemvGroupsNeon<kScaled, true>(a, t, g0, g1);
  } else {
    GemvGroupsNeon<kScaled, false>(a, t, g0, g1);
  }
}

#elif HWY_TARGET == HWY_SVE || HWY_TARGET == HWY_SVE2 || HWY_TARGET == HWY_SVE_256 || \
    HWY_TARGET == HWY_SVE2_128

// svdot (base SVE) over the 64 code bytes of a row's block in steps of
// min(vector bytes, 64); the predicates cap vectors wider than 512 bits at
// the block's 64 bytes (16 lanes). Inactive bytes load as zero.
template <bool kScaled>
inline void GemvGroups(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1) {
  const size_t step = std::min<size_t>(svcntb(), kPackedCodeBytes);
  ForGroupRowBlocks<kScaled>(a, t, g0, g1, [step](const uint8_t* ab, const uint8_t* wr, float scale,
                                                  float* acc_f, int32_t* acc_i) {
    const int8_t* aq = reinterpret_cast<const int8_t*>(ab);
    const int32_t* init = reinterpret_cast<const int32_t*>(ab + 256);
    for (size_t j = 0; j < kPackedCodeBytes; j += step) {
      const svbool_t p8 = svwhilelt_b8_u64(j, kPackedCodeBytes);
      const svbool_t p32 = svwhilelt_b32_u64(j / 4, 16);
      const svuint8_t codes = svld1_u8(p8, wr + j);
      svint32_t s = svld1_s32(p32, init + j / 4);
      s = svdot_s32(s, svreinterpret_s8_u8(svand_n_u8_x(p8, codes, 3)), svld1_s8(p8, aq + j));
      s = svdot_s32(s, svreinterpret_s8_u8(svand_n_u8_x(p8, svlsr_n_u8_x(p8, codes, 2), 3)),
                    svld1_s8(p8, aq + 64 + j));
      s = svdot_s32(s, svreinterpret_s8_u8(svand_n_u8_x(p8, svlsr_n_u8_x(p8, codes, 4), 3)),
                    svld1_s8(p8, aq + 128 + j));
      s = svdot_s32(s, svreinterpret_s8_u8(svlsr_n_u8_x(p8, codes, 6)), svld1_s8(p8, aq + 192 + j));
      float* af = acc_f + j / 4;
      int32_t* ai = acc_i + j / 4;
      if constexpr (kScaled) {
        const svfloat32_t v = svsub_n_f32_x(p32, svreinterpret_f32_s32(s), kMagicFloat);
        svst1_f32(p32, af, svmla_n_f32_x(p32, svld1_f32(p32, af), v, scale));  // fused
      } else {
        svst1_s32(p32, ai, svadd_s32_x(p32, svld1_s32(p32, ai), s));
      }
    }
  });
}

#else  // portable Highway path

template <bool kScaled>
inline void GemvGroups(const PackedMatmulArgs& a, size_t t, size_t g0, size_t g1) {
  ForGroupRowBlocks<kScaled>(a, t, g0, g1, [](const uint8_t* ab, const uint8_t* wr, float scale,
                                              float* acc_f, int32_t* acc_i) {
    namespace hn = hwy::HWY_NAMESPACE;
    const hn::CappedTag<int32_t, 16> di;
    const hn::RebindToUnsigned<decltype(di)> du;
    const hn::RebindToFloat<decltype(di)> df;
    // Bytes are loaded as u32 lanes (4 code or activation bytes per lane; the
    // Highway loads are byte-addressed, so no alignment or aliasing issue).
    auto load_u32 = [&](const uint8_t* p) { return hn::LoadU(du, reinterpret_cast<const uint32_t*>(p)); };
    const size_t N = hn::Lanes(di);
    const auto three = hn::Set(du, 3u);
    alignas(64) float v[16];
    for (size_t j = 0; j < 16; j += N) {  // lanes j .. j + N - 1
      const auto codes = load_u32(wr + 4 * j);
      int32_t init[16];
      std::memcpy(init, ab + 256, sizeof init);
      auto s = hn::LoadU(di, init + j);
      for (int n = 0; n < 4; ++n) {
        const auto q4 = hn::BitCast(di, load_u32(ab + 64 * n + 4 * j));
        for (int k = 0; k < 4; ++k) {
          const auto c = hn::BitCast(di, hn::And(hn::ShiftRightSame(codes, 8 * k + 2 * n), three));
          const auto q = hn::ShiftRightSame(hn::ShiftLeftSame(q4, 24 - 8 * k), 24);
          s = hn::Add(s, hn::Mul(c, q));
        }
      }
      if constexpr (kScaled) {
        hn::StoreU(hn::Sub(hn::BitCast(df, s), hn::Set(df, kMagicFloat)), df, v + j);
      } else {
        hn::StoreU(hn::Add(hn::LoadU(di, acc_i + j), s), di, acc_i + j);
      }
    }
    if constexpr (kScaled) {
#if HWY_NATIVE_FMA
      for (size_t j = 0; j < 16; j += N) {
        const auto acc = hn::LoadU(df, acc_f + j);
        hn::StoreU(hn::MulAdd(hn::LoadU(df, v + j), hn::Set(df, scale), acc), df, acc_f + j);
      }
#else
      for (size_t l = 0; l < 16; ++l) acc_f[l] = std::fma(v[l], scale, acc_f[l]);
#endif
    }
  });
}

#endif

#if !(HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3)
// Tokens inside groups: a group's codes (4 rows x cols / 4 bytes) stay in
// L1/L2 while every token passes over them. The spec's tile and cache
// parameters (Config) shape the AVX-512 loop nest only.
template <bool kScaled, class Config>
inline void GemmGroups(const PackedMatmulArgs& a, size_t g0, size_t g1) {
  for (size_t g = g0; g < g1; ++g) {
    for (size_t t = 0; t < a.n_tok; ++t) GemvGroups<kScaled>(a, t, g, g + 1);
  }
}
#endif

}  // namespace detail

// GEMV: token 0 of `a` against the rows of groups [g0, g1).
template <bool kScaled>
inline void PackedTernaryGemv(const PackedMatmulArgs& a, size_t g0, size_t g1) {
  detail::GemvGroups<kScaled>(a, 0, g0, g1);
}

// GEMM: all a.n_tok tokens against the rows of groups [g0, g1). Config is
// the kernel spec's generated CpuHighway struct: kTokensPerTile,
// kL1ActTileBytes and kL2CodeChunkBytes (AVX-512 tiling and cache budgets).
template <bool kScaled, class Config>
inline void PackedTernaryGemm(const PackedMatmulArgs& a, size_t g0, size_t g1) {
  detail::GemmGroups<kScaled, Config>(a, g0, g1);
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
#include "trix/cpu/target_end-inl.h"

#endif  // TRIX_CPU_TERNARY_PACKED_INL_H_
