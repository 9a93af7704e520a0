// Q6_K: ggml's 6-bit k-quant. 256 elements per super-block: uint8 ql[128]
// (low 4 bits), uint8 qh[64] (high 2 bits), int8 scales[16] (one per 16
// elements), f16 d; 210 bytes.
//
// Layout (ggml's): the block is 2 chunks of 128 elements; chunk c uses
// ql[64c .. 64c+64) and qh[32c .. 32c+32). For l < 32, element
//   128c +      l: low nibble of ql[64c + l],       qh bits 0-1 of qh[32c + l]
//   128c + 32 + l: low nibble of ql[64c + 32 + l],  qh bits 2-3
//   128c + 64 + l: high nibble of ql[64c + l],      qh bits 4-5
//   128c + 96 + l: high nibble of ql[64c + 32 + l], qh bits 6-7
// code q = (low | high << 4) - 32 in [-32, 31]; element e uses scales[e / 16].
// value = (d * sc) * q, each product rounded to float: ggml's
// dequantize_row_q6_K.
//
// Quantization is not provided here (ggml's Q6_K quantizer is an iterative
// search; TriX reads Q6_K files, e.g. token_embd, it does not write them).
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

// Code of element e (0..255) of a Q6_K block: -32..31.
inline int32_t q6_k_code(const BlockQ6_K& blk, size_t e) {
  const size_t chunk = e / 128;
  const size_t group = (e % 128) / 32;  // which 2-bit field of qh, which nibble of ql
  const size_t l = e % 32;
  const uint8_t low_byte = blk.ql[64 * chunk + 32 * (group & 1) + l];
  const int32_t low = group < 2 ? (low_byte & 15) : (low_byte >> 4);
  const int32_t high = (blk.qh[32 * chunk + l] >> (2 * group)) & 3;
  return (low | (high << 4)) - 32;
}

}  // namespace formats_detail

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q6_k(const BlockQ6_K* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ6_K::kElements;
  formats_detail::require_multiple("dequantize_row_q6_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (size_t e = 0; e < kQK; ++e) {
      const float ds = d * static_cast<float>(x[b].scales[e / 16]);
      *y++ = ds * static_cast<float>(formats_detail::q6_k_code(x[b], e));
    }
  }
}

// Dot product of a Q6_K row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error).
//
// Float contract (every backend reproduces it bit for bit):
//   acc = 0.0f
//   for each block b in order:
//     isum = sum_{g<16} scales[g] * (sum_{i in 16g..16g+15} q_i * a[b].qs[i])
//                                                    exact int32, |isum| <= 2^27
//     acc  = fma(float(isum), fp16_to_fp32(w[b].d) * a[b].d, acc)
//   return acc
// float(isum) may round (|isum| can exceed 2^24); that rounding is part of
// the contract.
inline float vec_dot_q6_k_q8_k(const BlockQ6_K* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = BlockQ6_K::kElements;
  static_assert(BlockQ8_K::kElements == kQK);
  formats_detail::require_multiple("vec_dot_q6_k_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (size_t g = 0; g < 16; ++g) {
      int32_t dot = 0;
      for (size_t i = 16 * g; i < 16 * g + 16; ++i) dot += formats_detail::q6_k_code(w[b], i) * a[b].qs[i];
      isum += int32_t{w[b].scales[g]} * dot;
    }
    acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w[b].d) * a[b].d, acc);
  }
  return acc;
}

}  // namespace trix
