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
// Quantization is not provided here (ggml's Q4_K quantizer is an iterative
// search; TriX reads Q4_K files, it does not write them).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/q8_k.h"

namespace trix {

namespace formats_detail {

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

}  // namespace formats_detail

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q4_k(const BlockQ4_K* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ4_K::kElements;
  formats_detail::require_multiple("dequantize_row_q4_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    for (size_t s = 0; s < 8; ++s) {
      const formats_detail::ScaleMin sm = formats_detail::q4_k_scale_min(x[b].scales, s);
      const float ds = d * static_cast<float>(sm.scale);
      const float ms = dmin * static_cast<float>(sm.min);
      for (size_t i = 0; i < 32; ++i) {
        const float scaled = ds * static_cast<float>(formats_detail::q4_k_code(x[b], 32 * s + i));
        *y++ = scaled - ms;  // separate statement: never contracted into an fma
      }
    }
  }
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
  constexpr size_t kQK = BlockQ4_K::kElements;
  static_assert(BlockQ8_K::kElements == kQK);
  formats_detail::require_multiple("vec_dot_q4_k_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum_q = 0;
    int32_t isum_m = 0;
    for (size_t s = 0; s < 8; ++s) {
      const formats_detail::ScaleMin sm = formats_detail::q4_k_scale_min(w[b].scales, s);
      int32_t dot = 0;
      int32_t sum = 0;
      for (size_t i = 32 * s; i < 32 * s + 32; ++i) {
        dot += formats_detail::q4_k_code(w[b], i) * a[b].qs[i];
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

}  // namespace trix
