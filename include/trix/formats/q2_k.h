// Q2_K: ggml's 2-bit k-quant. 256 elements per super-block: uint8
// scales[16] (sub-block scale in the low nibble, min in the high nibble),
// uint8 qs[64] (2-bit codes), f16 d, f16 dmin, 84 bytes.
//
// Layout (ggml's): element e has code (qs[32 * (e / 128) + e % 32] >>
// 2 * ((e % 128) / 32)) & 3 and belongs to sub-block s = e / 16 (16
// elements). value = (d * sc_s) * q - (dmin * m_s), each product rounded to
// float, then the difference (no fused multiply-add): ggml's
// dequantize_row_q2_K.
//
// quantize_row_q2_k gives the bytes of ggml's quantize_row_q2_K_ref: per 16
// elements make_qkx2_quants(16, 3, x, |x|, ..., -0.5, 0.1, 15, use_mad)
// (trix/formats/kquant.h); scales and mins to 4 bits against d = max_scale
// / 15 and dmin = max_min / 15; the codes requantized against the stored
// values.
//
// vec_dot_q2_k_q8_k, the float contract:
//   acc = 0.0f
//   for each block b in order:
//     isum_q = sum_s sc_s * (sum_{i in s} q_i * a[b].qs[i])   exact, |.| < 2^21
//     isum_m = sum_s m_s  * (sum_{i in s} a[b].qs[i])         exact, |.| < 2^19
//     acc = fma(float(isum_q),  fp16_to_fp32(w[b].d)    * a[b].d, acc)
//     acc = fma(float(-isum_m), fp16_to_fp32(w[b].dmin) * a[b].d, acc)
//   return acc
#pragma once

#include "trix/formats/common.h"
#include "trix/formats/kquant.h"
#include "trix/formats/q8_k.h"

TRIX_FP_CONTRACT_OFF_BEGIN

namespace trix {

namespace detail {

// Code of element e (0..255) of a Q2_K block: 0..3.
inline int32_t q2_k_code(const BlockQ2_K& blk, size_t e) {
  return (blk.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

// Packs 256 codes (0..3) the Q2_K / Q3_K way: byte 32 h + l holds elements
// 128 h + 32 j + l at bits 2 j.
inline void pack_2bit_codes(const uint8_t* L, uint8_t* qs) {
  for (size_t h = 0; h < 2; ++h) {
    for (size_t l = 0; l < 32; ++l) {
      const uint8_t* c = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(c[0] | (c[32] << 2) | (c[64] << 4) | (c[96] << 6));
    }
  }
}

}  // namespace detail

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
inline void quantize_row_q2_k(const float* x, BlockQ2_K* y, size_t n) {
  constexpr size_t kQK = BlockQ2_K::kElements;
  trix::detail::require_multiple("quantize_row_q2_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    BlockQ2_K& out = y[b];
    uint8_t L[kQK];
    float scales[16];
    float mins[16];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (size_t s = 0; s < 16; ++s) {
      float weights[16];
      for (size_t l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * s + l]);
      scales[s] = detail::make_qkx2_quants(detail::kQ2KSearch, x + 16 * s, weights, L + 16 * s, &mins[s]);
      if (scales[s] > max_scale) max_scale = scales[s];
      if (mins[s] > max_min) max_min = mins[s];
    }
    for (auto& v : out.scales) v = 0;
    out.d = fp32_to_fp16(0.0f);
    out.dmin = fp32_to_fp16(0.0f);
    if (max_scale > 0.0f) {
      const float iscale = 15.0f / max_scale;
      for (size_t s = 0; s < 16; ++s) {
        out.scales[s] = static_cast<uint8_t>(trix::detail::ggml_nearest_int(iscale * scales[s]));
      }
      out.d = fp32_to_fp16(max_scale / 15.0f);
    }
    if (max_min > 0.0f) {
      const float iscale = 15.0f / max_min;
      for (size_t s = 0; s < 16; ++s) {
        out.scales[s] |= static_cast<uint8_t>(trix::detail::ggml_nearest_int(iscale * mins[s]) << 4);
      }
      out.dmin = fp32_to_fp16(max_min / 15.0f);
    }
    for (size_t s = 0; s < 16; ++s) {
      const float d = fp16_to_fp32(out.d) * static_cast<float>(out.scales[s] & 15);
      if (d == 0.0f) continue;  // keep the codes of the search, as ggml
      const float dm = fp16_to_fp32(out.dmin) * static_cast<float>(out.scales[s] >> 4);
      trix::detail::requantize_with_min(x + 16 * s, d, dm, 3, 16, L + 16 * s);
    }
    detail::pack_2bit_codes(L, out.qs);
  }
}

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q2_k(const BlockQ2_K* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ2_K::kElements;
  trix::detail::require_multiple("dequantize_row_q2_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    for (size_t s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(x[b].scales[s] & 15);
      const float ml = dmin * static_cast<float>(x[b].scales[s] >> 4);
      for (size_t i = 16 * s; i < 16 * s + 16; ++i) {
        const float scaled = dl * static_cast<float>(detail::q2_k_code(x[b], i));
        *y++ = scaled - ml;  // separate statement: never contracted into an fma
      }
    }
  }
}

// Dot product of a Q2_K row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error); the contract in the file comment.
inline float vec_dot_q2_k_q8_k(const BlockQ2_K* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = BlockQ2_K::kElements;
  trix::detail::require_multiple("vec_dot_q2_k_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum_q = 0;
    int32_t isum_m = 0;
    for (size_t s = 0; s < 16; ++s) {
      int32_t dot = 0;
      int32_t sum = 0;
      for (size_t i = 16 * s; i < 16 * s + 16; ++i) {
        dot += detail::q2_k_code(w[b], i) * int32_t{a[b].qs[i]};
        sum += a[b].qs[i];
      }
      isum_q += int32_t{w[b].scales[s] & 15} * dot;
      isum_m += int32_t{w[b].scales[s] >> 4} * sum;
    }
    acc = std::fma(static_cast<float>(isum_q), fp16_to_fp32(w[b].d) * a[b].d, acc);
    acc = std::fma(static_cast<float>(-isum_m), fp16_to_fp32(w[b].dmin) * a[b].d, acc);
  }
  return acc;
}

}  // namespace trix

TRIX_FP_CONTRACT_OFF_END
