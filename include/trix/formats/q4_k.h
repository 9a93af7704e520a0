// Q4_K: ggml's 4-bit k-quant. 256 elements per super-block: f16 d, f16 dmin,
// uint8 scales[12] (eight 6-bit sub-block scales and eight 6-bit mins),
// uint8 qs[128] (4-bit codes), 144 bytes.
//
// Layout (ggml's): the block is 4 chunks of 64 elements; chunk c uses
// qs[32c .. 32c+32): element 64c + l is the low nibble of qs[32c + l], element
// 64c + 32 + l the high nibble. Sub-block s (32 elements, s = 2c or 2c + 1)
// has scale sc_s and min m_s (6 bits each) from scales[]:
//   s < 4:  sc = scales[s] & 63,                       m = scales[s + 4] & 63
//   s >= 4: sc = (scales[s+4] & 15) | (scales[s-4] >> 6) << 4,
//           m  = (scales[s+4] >> 4) | (scales[s]   >> 6) << 4
// value = (d * sc) * q - (dmin * m), each product rounded to float, then the
// difference rounded (no fused multiply-add): ggml's dequantize_row_q4_K.
//
// quantize_row_q4_k gives the bytes of ggml's quantize_row_q4_K_ref (no
// importance weights): per 32 elements a weighted least-squares search for
// scale and min (make_qkx2_quants, 21 trial scales; trix/formats/kquant.h), the 8 scales and mins
// quantized to 6 bits against d = max_scale / 63 and dmin = max_min / 63,
// then the codes requantized against the stored values. Float operations in
// ggml's order, one rounding each (no fused multiply-add); checked against
// ggml's golden bytes.
// Needs floating-point contraction off across statements: GCC fuses a * b + c
// into an FMA on FMA targets in C++ whatever the -std, which gives other
// bytes, so this header turns contraction off for its own functions (the
// pragma is popped at the end; Clang only contracts within one expression,
// and every float operation here is its own statement).
#pragma once

#include "trix/formats/common.h"
#include "trix/formats/kquant.h"
#include "trix/formats/q8_k.h"

TRIX_FP_CONTRACT_OFF_BEGIN

namespace trix {

namespace detail {

struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};

// The 6-bit scale and min of sub-block s (0..7) of a Q4_K block.
inline ScaleMin q4_k_scale_min(const uint8_t* scales, size_t s) {
  if (s < 4) {
    return {static_cast<uint8_t>(scales[s] & 63), static_cast<uint8_t>(scales[s + 4] & 63)};
  }
  return {static_cast<uint8_t>((scales[s + 4] & 15) | ((scales[s - 4] >> 6) << 4)),
          static_cast<uint8_t>((scales[s + 4] >> 4) | ((scales[s] >> 6) << 4))};
}

// Code of element e (0..255) of a Q4_K block: 0..15.
inline int32_t q4_k_code(const BlockQ4_K& blk, size_t e) {
  const size_t chunk = e / 64;
  const size_t l = e % 64;
  const uint8_t byte = blk.qs[32 * chunk + (l % 32)];
  return l < 32 ? (byte & 15) : (byte >> 4);
}

}  // namespace detail

namespace detail {

// The part of ggml's quantize_row_q{4,5}_K_ref that Q4_K and Q5_K share, for
// one 256-element super-block: per 32 elements weights av_x + |x| (av_x the
// RMS of the sub-block) and the make_qkx2_quants search `search`; the 8
// scales and mins to 6 bits against d = max_scale / 63 and dmin = max_min /
// 63 (the Q4_K scales layout, q4_k_scale_min); then the codes L (0..nmax)
// requantized against the stored values. Block: BlockQ4_K or BlockQ5_K.
template <class Block>
inline void quantize_k4_superblock(const float* x, const Qkx2Params& search, Block& out, uint8_t* L) {
  float scales[8];
  float mins[8];
  float max_scale = 0.0f;
  float max_min = 0.0f;
  for (size_t s = 0; s < 8; ++s) {
    const float* xs = x + 32 * s;
    float sum_x2 = 0.0f;
    for (size_t l = 0; l < 32; ++l) {
      const float sq = xs[l] * xs[l];
      sum_x2 = sum_x2 + sq;
    }
    const float av_x = std::sqrt(sum_x2 / 32.0f);
    float weights[32];
    for (size_t l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[s] = make_qkx2_quants(search, xs, weights, L + 32 * s, &mins[s]);
    if (scales[s] > max_scale) max_scale = scales[s];
    if (mins[s] > max_min) max_min = mins[s];
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  for (auto& v : out.scales) v = 0;
  for (size_t s = 0; s < 8; ++s) {
    // ggml stores nearest_int into a uint8_t, then takes min(63, .).
    auto ls = static_cast<uint8_t>(ggml_nearest_int(inv_scale * scales[s]));
    auto lm = static_cast<uint8_t>(ggml_nearest_int(inv_min * mins[s]));
    ls = ls < 63 ? ls : uint8_t{63};
    lm = lm < 63 ? lm : uint8_t{63};
    if (s < 4) {
      out.scales[s] = ls;
      out.scales[s + 4] = lm;
    } else {
      out.scales[s + 4] = static_cast<uint8_t>((ls & 15) | ((lm & 15) << 4));
      out.scales[s - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      out.scales[s] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  out.d = fp32_to_fp16(max_scale / 63.0f);
  out.dmin = fp32_to_fp16(max_min / 63.0f);
  for (size_t s = 0; s < 8; ++s) {
    const ScaleMin sm = q4_k_scale_min(out.scales, s);
    const float d = fp16_to_fp32(out.d) * static_cast<float>(sm.scale);
    if (d == 0.0f) continue;  // keep the codes of the search, as ggml
    const float dm = fp16_to_fp32(out.dmin) * static_cast<float>(sm.min);
    requantize_with_min(x + 32 * s, d, dm, search.nmax, 32, L + 32 * s);
  }
}

// The low 4 bits of 256 codes into qs[128], Q4_K's layout (element 64 c + l
// in the low nibble of qs[32 c + l], 64 c + 32 + l in its high nibble).
inline void pack_k4_nibbles(const uint8_t* L, uint8_t* qs) {
  for (size_t chunk = 0; chunk < 4; ++chunk) {
    for (size_t l = 0; l < 32; ++l) {
      qs[32 * chunk + l] = static_cast<uint8_t>((L[64 * chunk + l] & 15) | ((L[64 * chunk + 32 + l] & 15) << 4));
    }
  }
}

}  // namespace detail

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
// Non-finite input gives the bytes ggml's arithmetic gives on x86 (the
// rounding helper reads float bits, so nothing is undefined), not a
// meaningful block.
inline void quantize_row_q4_k(const float* x, BlockQ4_K* y, size_t n) {
  constexpr size_t kQK = BlockQ4_K::kElements;
  trix::detail::require_multiple("quantize_row_q4_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    uint8_t L[kQK];
    detail::quantize_k4_superblock(x, detail::kQ4KSearch, y[b], L);
    detail::pack_k4_nibbles(L, y[b].qs);
  }
}

namespace detail {

// ggml's dequantize_row_q{4,5}_K for blocks whose element e has code
// Code(blk, e) and the Q4_K scales layout.
template <class Block, int32_t (*Code)(const Block&, size_t)>
inline void dequantize_k4(const char* function, const Block* x, float* y, size_t n) {
  constexpr size_t kQK = Block::kElements;
  require_multiple(function, n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    for (size_t s = 0; s < 8; ++s) {
      const ScaleMin sm = q4_k_scale_min(x[b].scales, s);
      const float ds = d * static_cast<float>(sm.scale);
      const float ms = dmin * static_cast<float>(sm.min);
      for (size_t i = 0; i < 32; ++i) {
        const float scaled = ds * static_cast<float>(Code(x[b], 32 * s + i));
        *y++ = scaled - ms;  // separate statement: never contracted into an fma
      }
    }
  }
}

// The dot contract of vec_dot_q4_k_q8_k (below) for blocks whose element e
// has code Code(blk, e) and the Q4_K scales layout (Q4_K, Q5_K).
template <class Block, int32_t (*Code)(const Block&, size_t)>
inline float vec_dot_k4_q8_k(const char* function, const Block* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = Block::kElements;
  static_assert(BlockQ8_K::kElements == kQK);
  require_multiple(function, n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum_q = 0;
    int32_t isum_m = 0;
    for (size_t s = 0; s < 8; ++s) {
      const ScaleMin sm = q4_k_scale_min(w[b].scales, s);
      int32_t dot = 0;
      int32_t sum = 0;
      for (size_t i = 32 * s; i < 32 * s + 32; ++i) {
        dot += Code(w[b], i) * a[b].qs[i];
        sum += a[b].qs[i];
      }
      isum_q += int32_t{sm.scale} * dot;
      isum_m += int32_t{sm.min} * sum;
    }
    acc = std::fma(static_cast<float>(isum_q), fp16_to_fp32(w[b].d) * a[b].d, acc);
    acc = std::fma(static_cast<float>(-isum_m), fp16_to_fp32(w[b].dmin) * a[b].d, acc);
  }
  return acc;
}

}  // namespace detail

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q4_k(const BlockQ4_K* x, float* y, size_t n) {
  detail::dequantize_k4<BlockQ4_K, &detail::q4_k_code>("dequantize_row_q4_k", x, y, n);
}

// Dot product of a Q4_K row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error).
//
// Float contract (every backend reproduces it bit for bit):
//   acc = 0.0f
//   for each block b in order:
//     isum_q = sum_s sc_s * (sum_{i in s} q_i * a[b].qs[i])   exact int32, < 2^25
//     isum_m = sum_s m_s  * (sum_{i in s} a[b].qs[i])         exact int32, < 2^21
//              (the inner sum is a[b].bsums[2s] + a[b].bsums[2s+1])
//     acc = fma(float(isum_q),  fp16_to_fp32(w[b].d)    * a[b].d, acc)
//     acc = fma(float(-isum_m), fp16_to_fp32(w[b].dmin) * a[b].d, acc)
//   return acc
// float(isum_q) may round (|isum_q| can exceed 2^24); that rounding is part
// of the contract. The inner sums use the activation codes, not bsums, so a
// Q8_K block with inconsistent bsums still gives the reference value.
inline float vec_dot_q4_k_q8_k(const BlockQ4_K* w, const BlockQ8_K* a, size_t n) {
  return detail::vec_dot_k4_q8_k<BlockQ4_K, &detail::q4_k_code>("vec_dot_q4_k_q8_k", w, a, n);
}

}  // namespace trix

TRIX_FP_CONTRACT_OFF_END
