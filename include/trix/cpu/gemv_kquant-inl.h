// Per-target GEMV for ggml's K-quant weights against Q8_K activations, rows
// as stored (no repack). Included once per Highway target, hence the toggle
// guard.
//
// GemvQ6KQ8KRows: Q6_K rows x one Q8_K row, bit for bit the "q6k lanes16"
//   contract of trix/kernels/gemv_q6_k_q8_k_ref.h. Its lanes are the int32
//   lanes of an x86 u8 x s8 dot over a 64-byte vector, so AVX-512 keeps one
//   zmm of lane sums per block and AVX2 two ymm (even / odd 32-element
//   vectors):
//     codes   u = low nibble of ql | (2 bits of qh) << 4, unsigned 0..63;
//     dot     vpmaddubsw(u, qs): int16 pairs, |pair| <= 2 * 63 * 128 = 16128
//             (no saturation), then vpmaddwd / vpdpwssd with the sub-block
//             scale of each lane: exact int32;
//     offset  the -32 of the codes as -32 * sc[g] * bsums[g] on lanes 0..7
//             (vpmaddwd of 32 * -sc, |32 * sc| <= 4096, with the bsums);
//     float   one cvt + fma per block with d_w * d_a.
//   Why rows as stored rather than a repack to int8: decode streams this
//   matrix (the tied output of BitNet-2B-4T, 128256 x 2560, 269 MB) once
//   per token and is DRAM-bound; int8 rows would stream 1.22x the bytes, and
//   consecutive Q6_K rows already form one sequential stream per thread.
//   The decode work above is ~35 vector ops per 210-byte block on AVX-512,
//   below the DRAM time per block. Two things made the stream fast (output
//   matrix, 1 thread, loaded 2-core VM, medians): rows copied to huge pages
//   at load time (prepare_weight; 5.5 -> 7-10 GB/s over the GGUF mapping's
//   4 KiB pages) and a software prefetch kPrefetchBytes (the spec's prefetch_bytes) ahead of the block
//   being read (-> 15.3 GB/s, ~98% of the DRAM read bandwidth measured then;
//   the hardware streamer stops at 4 KiB page boundaries).
// GemvQ4KQ8KRows: Q4_K rows x one Q8_K row, bit for bit the "q4k lanes16"
//   contract of trix/kernels/gemv_q4_k_q8_k_ref.h, the same scheme: 4-bit
//   codes (|pair| <= 2 * 15 * 128) against qs, 6-bit sub-block scales per
//   lane, the mins times the bsums on lanes 0..7, two fmas per block.
// GemvQ5KQ8KRows: Q5_K rows x one Q8_K row, the "q5k lanes16" contract of
//   trix/kernels/gemv_q5_k_q8_k_ref.h: the Q4_K kernel with each code's
//   fifth bit (from qh) ORed in at bit 4 (|pair| <= 2 * 31 * 128).
// aarch64 NEON and SVE: the same contracts on 16-byte steps
//   (trix/cpu/arm_dot-inl.h's NeonBytes / SveBytes): lanes 4t..4t+3 of a
//   block are the 4-byte dots of elements 64 m + 16 t + (0..15), m < 4,
//   which share one sub-block (Q6_K: 4 m + t; Q4_K/Q5_K: 2 m + t / 2), so
//   each 16-byte dot (sdot / svdot, or vmull + vpadal without dotprod; a
//   pair of products <= 2 * 63 * 128) is scaled by one scalar in int32.
//   The offsets (Q6_K's -32 sc bsums, Q4_K's mins bsums) and the float
//   steps are AdvSIMD code, part of every aarch64 CPU and so shared by both.
// Other targets (SSE4, EMU128, SCALAR) run the references' own loop per
// row.
#if defined(TRIX_CPU_GEMV_KQUANT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_GEMV_KQUANT_INL_H_
#undef TRIX_CPU_GEMV_KQUANT_INL_H_
#else
#define TRIX_CPU_GEMV_KQUANT_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hwy/highway.h"
#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_q4_k_q8_k_ref.h"
#include "trix/kernels/gemv_q5_k_q8_k_ref.h"
#include "trix/kernels/gemv_q6_k_q8_k_ref.h"
#include "trix/kernels/lanes16.h"
// Per-target helper with its own toggle guard (before target_begin-inl.h).
#include "trix/cpu/arm_dot-inl.h"  // IWYU pragma: keep
#include "trix/cpu/arm_features.h"

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
#include <immintrin.h>
#elif TRIX_ARM_BYTES_TARGET
#include <arm_neon.h>
#endif

#include "trix/cpu/target_begin-inl.h"  // Highway's attributes; AVX3_DL: +avx512vnni
namespace trix::cpu {
namespace HWY_NAMESPACE {
namespace detail {

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
// The cache lines of the block kPrefetchBytes ahead (the kernel spec's
// prefetch_bytes; a prefetch past the end of the matrix is harmless:
// prefetches do not fault).
template <size_t kPrefetchBytes, class Block>
HWY_INLINE void PrefetchBlock(const Block* wb) {
  const char* p = reinterpret_cast<const char*>(wb) + kPrefetchBytes;
  for (size_t i = 0; i < sizeof(Block); i += 64) _mm_prefetch(p + i, _MM_HINT_T0);
}
#endif

// The 8 sub-block scales (bytes 0..7) and 8 mins (bytes 8..15) of a Q4_K
// block, trix::detail::q4_k_scale_min's values, unpacked 4 at a time.
inline void Q4KScalesMins(const uint8_t* scales, uint8_t (&out)[16]) {
  uint32_t u[3];
  std::memcpy(u, scales, 12);
  constexpr uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  const uint32_t v[4] = {u[0] & k6, (u[2] & k4) | (((u[0] >> 6) & k2) << 4),  // scales 0-3, 4-7
                         u[1] & k6, ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4)};  // mins
  std::memcpy(out, v, 16);
}

// y[r] = row(W row r, x, k / 256) for r in [row_begin, row_end): W rows of
// Block at args.w + r * args.w_row_bytes, x args.k / 256 Q8_K blocks.
template <class Block, class RowFn>
HWY_INLINE void ForEachKQuantRow(const GemvArgs& args, size_t row_begin, size_t row_end, RowFn row) {
  const auto* x = static_cast<const BlockQ8_K*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  const size_t nb = args.k / Block::kElements;
  for (size_t r = row_begin; r < row_end; ++r) {
    args.y[r] = row(reinterpret_cast<const Block*>(w_base + r * args.w_row_bytes), x, nb);
  }
}

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3

// sum + pairs . scales per int32 lane (int16 pairs, exact).
HWY_INLINE __m512i DotPairs(__m512i sum, __m512i pairs, __m512i scales) {
#if HWY_TARGET == HWY_AVX3_DL
  return _mm512_dpwssd_epi32(sum, pairs, scales);
#else
  return _mm512_add_epi32(sum, _mm512_madd_epi16(pairs, scales));
#endif
}

template <size_t kPrefetchBytes>
inline float KQuantRow(const BlockQ6_K* w, const BlockQ8_K* x, size_t nb) {
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  // Bytes 0..31 of a 64-byte code vector take qh bits 0-1 (low nibbles) or
  // 4-5 (high nibbles), bytes 32..63 bits 2-3 or 6-7; each moved to bits 4-5.
  // (Constants from memory: GCC 12 warns about the undefined pass-through
  // operand of _mm512_inserti64x4 / _mm512_broadcast_i64x4 and the other
// unmasked forms; the maskz forms below have a zero operand instead.)
  alignas(64) uint8_t mask_lo[64], mask_hi[64];
  alignas(64) uint16_t shift_lo[32], shift_hi[32];
  for (int i = 0; i < 64; ++i) {
    mask_lo[i] = i < 32 ? 0x03 : 0x0C;
    mask_hi[i] = i < 32 ? 0x30 : 0xC0;
  }
  for (int i = 0; i < 32; ++i) {
    shift_lo[i] = i < 16 ? 4 : 2;
    shift_hi[i] = i < 16 ? 0 : 2;
  }
  const __m512i qh_mask_lo = _mm512_load_si512(mask_lo);
  const __m512i qh_mask_hi = _mm512_load_si512(mask_hi);
  const __m512i shl_lo = _mm512_load_si512(shift_lo);
  const __m512i shr_hi = _mm512_load_si512(shift_hi);
  // Word w of vector m takes sub-block scale 4 m + w / 8 (int32 lane w / 2).
  __m512i scale_idx[4];
  for (int m = 0; m < 4; ++m) {
    alignas(64) int16_t idx[32];
    for (int i = 0; i < 32; ++i) idx[i] = static_cast<int16_t>(4 * m + i / 8);
    scale_idx[m] = _mm512_load_si512(idx);
  }
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const BlockQ6_K& wb = w[b];
    const BlockQ8_K& xb = x[b];
    PrefetchBlock<kPrefetchBytes>(&wb);
    const __m512i l0 = _mm512_loadu_si512(wb.ql);
    const __m512i l1 = _mm512_loadu_si512(wb.ql + 64);
    const __m512i qh = _mm512_loadu_si512(wb.qh);
    const __m512i h0 = _mm512_maskz_shuffle_i64x2(0xFF, qh, qh, 0x44);  // qh[0..32) in both halves
    const __m512i h1 = _mm512_maskz_shuffle_i64x2(0xFF, qh, qh, 0xEE);  // qh[32..64)
    // (A & C) | B with A = nibble source, B = high bits at 4-5, C = 0x0F.
    constexpr int kNibbleOrHigh = 0xEC;
    const __m512i u0 = _mm512_ternarylogic_epi32(
        l0, _mm512_sllv_epi16(_mm512_and_si512(h0, qh_mask_lo), shl_lo), m0f, kNibbleOrHigh);
    const __m512i u1 = _mm512_ternarylogic_epi32(
        _mm512_srli_epi16(l0, 4), _mm512_srlv_epi16(_mm512_and_si512(h0, qh_mask_hi), shr_hi), m0f,
        kNibbleOrHigh);
    const __m512i u2 = _mm512_ternarylogic_epi32(
        l1, _mm512_sllv_epi16(_mm512_and_si512(h1, qh_mask_lo), shl_lo), m0f, kNibbleOrHigh);
    const __m512i u3 = _mm512_ternarylogic_epi32(
        _mm512_srli_epi16(l1, 4), _mm512_srlv_epi16(_mm512_and_si512(h1, qh_mask_hi), shr_hi), m0f,
        kNibbleOrHigh);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales)));
    const __m512i sc = _mm512_maskz_broadcast_i64x4(0x0F, sc16);  // words 0..15, then 0
    const auto* qs = xb.qs;
    __m512i s = _mm512_madd_epi16(_mm512_maddubs_epi16(u0, _mm512_loadu_si512(qs)),
                                  _mm512_permutexvar_epi16(scale_idx[0], sc));
    s = DotPairs(s, _mm512_maddubs_epi16(u1, _mm512_loadu_si512(qs + 64)),
                 _mm512_permutexvar_epi16(scale_idx[1], sc));
    s = DotPairs(s, _mm512_maddubs_epi16(u2, _mm512_loadu_si512(qs + 128)),
                 _mm512_permutexvar_epi16(scale_idx[2], sc));
    s = DotPairs(s, _mm512_maddubs_epi16(u3, _mm512_loadu_si512(qs + 192)),
                 _mm512_permutexvar_epi16(scale_idx[3], sc));
    // Words 16..31 of sc and of the bsums load are 0: lanes 8..15 get 0.
    const __m512i neg32sc = _mm512_slli_epi16(_mm512_sub_epi16(_mm512_setzero_si512(), sc), 5);
    s = DotPairs(s, neg32sc, _mm512_maskz_loadu_epi16(0xFFFF, xb.bsums));
    const float d = fp16_to_fp32(wb.d) * xb.d;
    const __m512 sf = _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xFFFF, s);  // all lanes
    acc = _mm512_fmadd_ps(sf, _mm512_set1_ps(d), acc);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  return lanes16_combine(lanes);
}

// Q4_K, or Q5_K (kFive: the fifth bit of element 64 m + j, bit 2 m + j / 32
// of qh[j % 32], ORed in at bit 4).
template <size_t kPrefetchBytes, class Block>
inline float K4Row(const Block* w, const BlockQ8_K* x, size_t nb) {
  constexpr bool kFive = std::is_same_v<Block, BlockQ5_K>;
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  const __m512i m01 = _mm512_set1_epi8(0x01);
  // Bytes 0..31 of chunk m's vector: low nibbles of qs[32m ..), bytes 32..63
  // their high nibbles.
  alignas(64) uint16_t shift[32];
  for (int i = 0; i < 32; ++i) shift[i] = i < 16 ? 0 : 4;
  const __m512i nibble_shift = _mm512_load_si512(shift);
  // Chunk m's fifth bits: qh (in both halves) shifted right by 2 m (bytes
  // 0..31) or 2 m + 1 (bytes 32..63).
  __m512i high_shift[4];
  for (int m = 0; m < 4; ++m) {
    alignas(64) uint16_t hs[32];
    for (int i = 0; i < 32; ++i) hs[i] = static_cast<uint16_t>(2 * m + (i < 16 ? 0 : 1));
    high_shift[m] = _mm512_load_si512(hs);
  }
  // Word w of chunk m's scale vector: scale 2 m + w / 16 (int32 lane w / 2);
  // of the min vector: min w / 2 (words 8.. of the unpacked 16), w < 16.
  __m512i scale_idx[4];
  for (int m = 0; m < 4; ++m) {
    alignas(64) int16_t idx[32];
    for (int i = 0; i < 32; ++i) idx[i] = static_cast<int16_t>(2 * m + i / 16);
    scale_idx[m] = _mm512_load_si512(idx);
  }
  alignas(64) int16_t midx[32];
  for (int i = 0; i < 32; ++i) midx[i] = static_cast<int16_t>(8 + (i < 16 ? i / 2 : 0));
  const __m512i min_idx = _mm512_load_si512(midx);
  __m512 acc = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    const Block& wb = w[b];
    const BlockQ8_K& xb = x[b];
    PrefetchBlock<kPrefetchBytes>(&wb);
    alignas(16) uint8_t sm[16];
    Q4KScalesMins(wb.scales, sm);
    const __m512i sc = _mm512_maskz_broadcast_i64x4(
        0x0F, _mm256_cvtepu8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sm))));
    const __m512i q01 = _mm512_loadu_si512(wb.qs);
    const __m512i q23 = _mm512_loadu_si512(wb.qs + 64);
    __m512i qh = _mm512_setzero_si512();
    if constexpr (kFive) {
      qh = _mm512_maskz_broadcast_i64x4(0xFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qh)));
    }
    const auto codes = [&](int m) {  // chunk m's 64 codes
      const __m512i q = m < 2 ? q01 : q23;
      const __m512i half = m % 2 == 0 ? _mm512_maskz_shuffle_i64x2(0xFF, q, q, 0x44)
                                      : _mm512_maskz_shuffle_i64x2(0xFF, q, q, 0xEE);
      const __m512i low = _mm512_and_si512(_mm512_srlv_epi16(half, nibble_shift), m0f);
      if constexpr (!kFive) return low;
      const __m512i bit = _mm512_and_si512(_mm512_srlv_epi16(qh, high_shift[m]), m01);
      return _mm512_or_si512(low, _mm512_slli_epi16(bit, 4));
    };
    const auto* qs = xb.qs;
    __m512i s = _mm512_madd_epi16(_mm512_maddubs_epi16(codes(0), _mm512_loadu_si512(qs)),
                                  _mm512_permutexvar_epi16(scale_idx[0], sc));
    for (int m = 1; m < 4; ++m) {
      s = DotPairs(s, _mm512_maddubs_epi16(codes(m), _mm512_loadu_si512(qs + 64 * m)),
                   _mm512_permutexvar_epi16(scale_idx[m], sc));
    }
    // Lanes 0..7: min l times bsums 2l, 2l+1; words 16..31 of the load are 0.
    const __m512i t = _mm512_madd_epi16(_mm512_permutexvar_epi16(min_idx, sc),
                                        _mm512_maskz_loadu_epi16(0xFFFF, xb.bsums));
    const __m512 sf = _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xFFFF, s);
    const __m512 tf = _mm512_mask_cvtepi32_ps(_mm512_setzero_ps(), 0xFFFF,
                                              _mm512_sub_epi32(_mm512_setzero_si512(), t));
    acc = _mm512_fmadd_ps(sf, _mm512_set1_ps(fp16_to_fp32(wb.d) * xb.d), acc);
    acc = _mm512_fmadd_ps(tf, _mm512_set1_ps(fp16_to_fp32(wb.dmin) * xb.d), acc);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  return lanes16_combine(lanes);
}

#elif HWY_TARGET == HWY_AVX2

template <size_t kPrefetchBytes>
inline float KQuantRow(const BlockQ6_K* w, const BlockQ8_K* x, size_t nb) {
  const __m256i m0f = _mm256_set1_epi8(0x0F);
  const __m256i m03 = _mm256_set1_epi8(0x03);
  const __m256i m0c = _mm256_set1_epi8(0x0C);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  // Vector v (elements 32 v ..) takes scales 2 v (words 0..7) and 2 v + 1.
  __m128i scale_shuf[8];
  for (int v = 0; v < 8; ++v) {
    alignas(16) int8_t idx[16];
    for (int i = 0; i < 16; ++i) idx[i] = static_cast<int8_t>(2 * v + i / 8);
    scale_shuf[v] = _mm_load_si128(reinterpret_cast<const __m128i*>(idx));
  }
  __m256 acc_lo = _mm256_setzero_ps(), acc_hi = _mm256_setzero_ps();  // lanes 0..7, 8..15
  for (size_t b = 0; b < nb; ++b) {
    const BlockQ6_K& wb = w[b];
    const BlockQ8_K& xb = x[b];
    PrefetchBlock<kPrefetchBytes>(&wb);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb.scales));
    __m256i s_lo = _mm256_setzero_si256(), s_hi = _mm256_setzero_si256();
    for (int c = 0; c < 2; ++c) {
      const auto* ql = reinterpret_cast<const __m256i*>(wb.ql + 64 * c);
      const __m256i la = _mm256_loadu_si256(ql);
      const __m256i lb = _mm256_loadu_si256(ql + 1);
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qh + 32 * c));
      __m256i u[4];
      u[0] = _mm256_or_si256(_mm256_and_si256(la, m0f), _mm256_slli_epi16(_mm256_and_si256(h, m03), 4));
      u[1] = _mm256_or_si256(_mm256_and_si256(lb, m0f), _mm256_slli_epi16(_mm256_and_si256(h, m0c), 2));
      u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m0f), _mm256_and_si256(h, m30));
      u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m0f),
                             _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
      for (int j = 0; j < 4; ++j) {
        const int v = 4 * c + j;
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs + 32 * v));
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, scale_shuf[v]));
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u[j], a), sc);
        if (v % 2 == 0) {
          s_lo = _mm256_add_epi32(s_lo, p);
        } else {
          s_hi = _mm256_add_epi32(s_hi, p);
        }
      }
    }
    const __m256i neg32sc = _mm256_slli_epi16(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_cvtepi8_epi16(sc8)), 5);
    s_lo = _mm256_add_epi32(
        s_lo, _mm256_madd_epi16(neg32sc, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums))));
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(wb.d) * xb.d);
    acc_lo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s_lo), d, acc_lo);
    acc_hi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s_hi), d, acc_hi);
  }
  alignas(32) float lanes[16];
  _mm256_store_ps(lanes, acc_lo);
  _mm256_store_ps(lanes + 8, acc_hi);
  return lanes16_combine(lanes);
}

// Q4_K, or Q5_K (kFive: the fifth bits ORed in at bit 4, as on AVX-512).
template <size_t kPrefetchBytes, class Block>
inline float K4Row(const Block* w, const BlockQ8_K* x, size_t nb) {
  constexpr bool kFive = std::is_same_v<Block, BlockQ5_K>;
  const __m256i m0f = _mm256_set1_epi8(0x0F);
  const __m256i m01 = _mm256_set1_epi8(0x01);
  const auto fifth = [&](__m256i qh, int bit) {  // bit `bit` of each qh byte, at bit 4
    return _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(bit)), m01), 4);
  };
  alignas(16) int8_t dup[16];
  for (int i = 0; i < 16; ++i) dup[i] = static_cast<int8_t>(8 + i / 2);
  const __m128i min_dup = _mm_load_si128(reinterpret_cast<const __m128i*>(dup));  // min w / 2
  __m256 acc_lo = _mm256_setzero_ps(), acc_hi = _mm256_setzero_ps();  // lanes 0..7, 8..15
  for (size_t b = 0; b < nb; ++b) {
    const Block& wb = w[b];
    const BlockQ8_K& xb = x[b];
    PrefetchBlock<kPrefetchBytes>(&wb);
    alignas(16) uint8_t sm[16];
    Q4KScalesMins(wb.scales, sm);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kFive) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qh));
    __m256i s_lo = _mm256_setzero_si256(), s_hi = _mm256_setzero_si256();
    for (int m = 0; m < 4; ++m) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qs + 32 * m));
      __m256i lo = _mm256_and_si256(q, m0f);                         // elements 64m + 0..31
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m0f);  // 64m + 32..63
      if constexpr (kFive) {
        lo = _mm256_or_si256(lo, fifth(qh, 2 * m));
        hi = _mm256_or_si256(hi, fifth(qh, 2 * m + 1));
      }
      const __m256i a_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs + 64 * m));
      const __m256i a_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs + 64 * m + 32));
      s_lo = _mm256_add_epi32(s_lo, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a_lo),
                                                      _mm256_set1_epi16(static_cast<int16_t>(sm[2 * m]))));
      s_hi = _mm256_add_epi32(s_hi, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a_hi),
                                                      _mm256_set1_epi16(static_cast<int16_t>(sm[2 * m + 1]))));
    }
    const __m256i mins = _mm256_cvtepu8_epi16(
        _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(sm)), min_dup));
    const __m256i t = _mm256_madd_epi16(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.bsums)));
    const __m256 d = _mm256_set1_ps(fp16_to_fp32(wb.d) * xb.d);
    const __m256 dm = _mm256_set1_ps(fp16_to_fp32(wb.dmin) * xb.d);
    acc_lo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s_lo), d, acc_lo);
    acc_lo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), t)), dm, acc_lo);
    acc_hi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s_hi), d, acc_hi);
    acc_hi = _mm256_fmadd_ps(_mm256_setzero_ps(), dm, acc_hi);  // t_l = 0 for l >= 8, as the contract
  }
  alignas(32) float lanes[16];
  _mm256_store_ps(lanes, acc_lo);
  _mm256_store_ps(lanes + 8, acc_hi);
  return lanes16_combine(lanes);
}

#elif TRIX_ARM_BYTES_TARGET

// The NEON instances inline sdot: compiled with +dotprod (see arm_dot-inl.h);
// the SVE targets keep Highway's +sve.
#if HWY_TARGET == HWY_NEON
TRIX_ARM_DOTPROD_BEGIN
#endif

// As the x86 PrefetchBlock (defined here: the NEON region's target
// options differ from Highway's, and GCC inlines only into a superset).
template <size_t kPrefetchBytes, class Block>
HWY_INLINE void PrefetchBlock(const Block* wb) {
  const char* p = reinterpret_cast<const char*>(wb) + kPrefetchBytes;
  for (size_t i = 0; i < sizeof(Block); i += 64) __builtin_prefetch(p + i, 0, 3);
}

// Lanes 4t..4t+3 of a Q6_K block's s_l before the -32 offset, for t < 4, in
// s[4t ..]. Element 64 m + 16 t + i is in the 128-element half n = m / 2,
// group g = 2 (m % 2) + t / 2 (ql nibble g / 2 of ql[64 n + 32 (g % 2) + l],
// qh bits 2g of qh[32 n + l]) with l = 16 (t % 2) + i.
template <class B>
HWY_INLINE void Q6KBlockLanes(const BlockQ6_K& w, const BlockQ8_K& x, int32_t (&s)[16]) {
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) {
    auto sum = B::Zero();
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) {
      const int n = m / 2, g = 2 * (m % 2) + t / 2, h = t % 2;
      const auto low_byte = B::Load(w.ql + 64 * n + 32 * (g % 2) + 16 * h);
      const auto low = g < 2 ? B::And(low_byte, 0x0F) : B::ShiftRight(low_byte, 4);
      const auto high = B::ShiftLeft(B::And(B::ShiftRight(B::Load(w.qh + 32 * n + 16 * h), 2 * g), 3), 4);
      sum = B::MulAdd(sum, B::Dot4(B::Zero(), B::Or(low, high), x.qs + 64 * m + 16 * t), w.scales[4 * m + t]);
    }
    B::Store(sum, s + 4 * t);
  }
}

// Lanes 4t..4t+3 of a Q4_K (or Q5_K) block's s_l, in s[4t ..]: element
// 64 m + 16 t + i is nibble t / 2 of qs[32 m + 16 (t % 2) + i] (Q5_K: fifth
// bit 2 m + t / 2 of qh[16 (t % 2) + i]), sub-block 2 m + t / 2.
template <class B, class Block>
HWY_INLINE void K4BlockLanes(const Block& w, const uint8_t (&sm)[16], const BlockQ8_K& x, int32_t (&s)[16]) {
  constexpr bool kFive = std::is_same_v<Block, BlockQ5_K>;
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) {
    auto sum = B::Zero();
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m) {
      const auto byte = B::Load(w.qs + 32 * m + 16 * (t % 2));
      auto code = t < 2 ? B::And(byte, 0x0F) : B::ShiftRight(byte, 4);
      if constexpr (kFive) {
        const auto bit = B::And(B::ShiftRight(B::Load(w.qh + 16 * (t % 2)), 2 * m + t / 2), 1);
        code = B::Or(code, B::ShiftLeft(bit, 4));
      }
      sum = B::MulAdd(sum, B::Dot4(B::Zero(), code, x.qs + 64 * m + 16 * t), sm[2 * m + t / 2]);
    }
    B::Store(sum, s + 4 * t);
  }
}

// a[2j] b[2j] + a[2j + 1] b[2j + 1] in lane j (j < 4), exact.
HWY_INLINE int32x4_t PairProducts(int16x8_t a, int16x8_t b) {
  return vpaddq_s32(vmull_s16(vget_low_s16(a), vget_low_s16(b)), vmull_high_s16(a, b));
}

HWY_INLINE float CombineQuarters(const float32x4_t (&acc)[4]) {
  alignas(16) float lanes[16];
  for (int t = 0; t < 4; ++t) vst1q_f32(lanes + 4 * t, acc[t]);
  return lanes16_combine(lanes);
}

template <class B, size_t kPrefetchBytes>
inline float Q6KRowArm(const BlockQ6_K* w, const BlockQ8_K* x, size_t nb) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (size_t b = 0; b < nb; ++b) {
    const BlockQ6_K& wb = w[b];
    const BlockQ8_K& xb = x[b];
    PrefetchBlock<kPrefetchBytes>(&wb);
    alignas(16) int32_t s[16];
    Q6KBlockLanes<B>(wb, xb, s);
    // Lanes 0..7: sc[2l] bsums[2l] + sc[2l + 1] bsums[2l + 1], times 32 below.
    const int32x4_t offset[2] = {
        PairProducts(vmovl_s8(vld1_s8(wb.scales)), vld1q_s16(xb.bsums)),
        PairProducts(vmovl_s8(vld1_s8(wb.scales + 8)), vld1q_s16(xb.bsums + 8))};
    const float32x4_t d = vdupq_n_f32(fp16_to_fp32(wb.d) * xb.d);
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      int32x4_t v = vld1q_s32(s + 4 * t);
      if (t < 2) v = vsubq_s32(v, vshlq_n_s32(offset[t], 5));
      acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(v), d);
    }
  }
  return CombineQuarters(acc);
}

template <class B, size_t kPrefetchBytes, class Block>
inline float K4RowArm(const Block* w, const BlockQ8_K* x, size_t nb) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (size_t b = 0; b < nb; ++b) {
    const Block& wb = w[b];
    const BlockQ8_K& xb = x[b];
    PrefetchBlock<kPrefetchBytes>(&wb);
    alignas(16) uint8_t sm[16];
    Q4KScalesMins(wb.scales, sm);
    alignas(16) int32_t s[16];
    K4BlockLanes<B>(wb, sm, xb, s);
    // -t_l: lanes 0..7 min l times bsums 2l + 2l + 1 (pair sums <= 4096 fit
    // int16), lanes 8..15 zero.
    const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(sm + 8)));
    const int16x8_t bsum_pairs = vpaddq_s16(vld1q_s16(xb.bsums), vld1q_s16(xb.bsums + 8));
    const int32x4_t neg_t[4] = {vnegq_s32(vmull_s16(vget_low_s16(mins), vget_low_s16(bsum_pairs))),
                                vnegq_s32(vmull_high_s16(mins, bsum_pairs)), vdupq_n_s32(0), vdupq_n_s32(0)};
    const float32x4_t d = vdupq_n_f32(fp16_to_fp32(wb.d) * xb.d);
    const float32x4_t dmin = vdupq_n_f32(fp16_to_fp32(wb.dmin) * xb.d);
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(vld1q_s32(s + 4 * t)), d);
      acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(neg_t[t]), dmin);
    }
  }
  return CombineQuarters(acc);
}

// Rows [row_begin, row_end) as GemvKQuantRows, with byte-dot steps B.
// (Not ForEachKQuantRow: see PrefetchBlock.)
template <class B, class Block, size_t kPrefetchBytes>
inline void KQuantRowsArm(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const auto* x = static_cast<const BlockQ8_K*>(args.x);
  const size_t nb = args.k / Block::kElements;
  for (size_t r = row_begin; r < row_end; ++r) {
    const auto* w = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(args.w) + r * args.w_row_bytes);
    if constexpr (std::is_same_v<Block, BlockQ6_K>) {
      args.y[r] = Q6KRowArm<B, kPrefetchBytes>(w, x, nb);
    } else {
      args.y[r] = K4RowArm<B, kPrefetchBytes>(w, x, nb);
    }
  }
}

#if HWY_TARGET == HWY_NEON
TRIX_ARM_DOTPROD_END
#endif

#else

template <size_t kPrefetchBytes>
inline float KQuantRow(const BlockQ6_K* w, const BlockQ8_K* x, size_t nb) {
  return kernels::gemv_q6_k_q8_k_row_ref(w, x, nb * BlockQ6_K::kElements);
}

template <size_t kPrefetchBytes>
inline float KQuantRow(const BlockQ4_K* w, const BlockQ8_K* x, size_t nb) {
  return kernels::gemv_q4_k_q8_k_row_ref(w, x, nb * BlockQ4_K::kElements);
}

template <size_t kPrefetchBytes>
inline float KQuantRow(const BlockQ5_K* w, const BlockQ8_K* x, size_t nb) {
  return kernels::gemv_q5_k_q8_k_row_ref(w, x, nb * BlockQ5_K::kElements);
}

#endif

#if HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX2
template <size_t kPrefetchBytes>
inline float KQuantRow(const BlockQ4_K* w, const BlockQ8_K* x, size_t nb) {
  return K4Row<kPrefetchBytes>(w, x, nb);
}
template <size_t kPrefetchBytes>
inline float KQuantRow(const BlockQ5_K* w, const BlockQ8_K* x, size_t nb) {
  return K4Row<kPrefetchBytes>(w, x, nb);
}
#endif

}  // namespace detail

// Rows [row_begin, row_end) of y = W x: W rows of Block (Q6_K, Q4_K or Q5_K; row
// r at args.w + r * args.w_row_bytes), x args.k / 256 Q8_K blocks,
// k % 256 == 0.
template <class Block, size_t kPrefetchBytes>
inline void GemvKQuantRows(const GemvArgs& args, size_t row_begin, size_t row_end) {
#if HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64
  if (arm_has_dotprod()) {
    detail::KQuantRowsArm<arm_dot::NeonBytes<true>, Block, kPrefetchBytes>(args, row_begin, row_end);
  } else {
    detail::KQuantRowsArm<arm_dot::NeonBytes<false>, Block, kPrefetchBytes>(args, row_begin, row_end);
  }
#elif TRIX_ARM_BYTES_TARGET
  detail::KQuantRowsArm<arm_dot::SveBytes, Block, kPrefetchBytes>(args, row_begin, row_end);
#else
  detail::ForEachKQuantRow<Block>(args, row_begin, row_end, [](const Block* w, const BlockQ8_K* x, size_t nb) {
    return detail::KQuantRow<kPrefetchBytes>(w, x, nb);
  });
#endif
}

template <size_t kPrefetchBytes>
inline void GemvQ6KQ8KRows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  GemvKQuantRows<BlockQ6_K, kPrefetchBytes>(args, row_begin, row_end);
}
template <size_t kPrefetchBytes>
inline void GemvQ4KQ8KRows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  GemvKQuantRows<BlockQ4_K, kPrefetchBytes>(args, row_begin, row_end);
}
template <size_t kPrefetchBytes>
inline void GemvQ5KQ8KRows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  GemvKQuantRows<BlockQ5_K, kPrefetchBytes>(args, row_begin, row_end);
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
#include "trix/cpu/target_end-inl.h"

#endif  // TRIX_CPU_GEMV_KQUANT_INL_H_
