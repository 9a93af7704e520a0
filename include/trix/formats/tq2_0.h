// TQ2_0: ggml's 2-bit ternary weights. 256 elements per block: uint8 qs[64],
// f16 d, 66 bytes. Byte j+m (j in {0, 32}, m < 32) holds element 4*j+m+32*n
// in bits 2n..2n+1 (n = 0..3); code c in {0, 1, 2} means c - 1 in {-1, 0, +1};
// value = (c - 1) * d.
//
// quantize_row_tq2_0 produces the same bytes as ggml's quantize_row_tq2_0_ref:
//   d = max |x| of the block (running ggml MAX, see below), stored as f16;
//   id = d != 0 ? 1 / d : 0;  c = lroundf(x * id) + 1  (half away from zero),
//   stored as c & 3.
// All-zero block: d = 0 and every code 1 (value 0), no NaN.
// Non-finite input, as ggml on x86: the running max is `a > b ? a : b`, so a
// NaN resets it to the magnitudes that follow; lroundf(NaN or +-inf) is
// INT64_MIN, whose +1 keeps code 1. If the block's max ends up NaN or inf,
// d is NaN/inf and every decoded value is NaN. Elements larger than a reset
// max round to codes outside {0,1,2} and are stored modulo 4, as ggml does.
#pragma once

#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/q8_k.h"

namespace trix {

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
inline void quantize_row_tq2_0(const float* x, BlockTQ2_0* y, size_t n) {
  constexpr size_t kQK = BlockTQ2_0::kElements;
  trix::detail::require_multiple("quantize_row_tq2_0", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = trix::detail::ggml_max(amax, std::fabs(x[j]));
    const float d = amax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;  // NaN != 0: id = NaN, as in C
    y[b].d = fp32_to_fp16(d);
    for (auto& byte : y[b].qs) byte = 0;
    for (size_t e = 0; e < kQK; ++e) {
      const int32_t c = trix::detail::wrap_to_int32(trix::detail::x86_lroundf(x[e] * id) + 1);
      trix::detail::or_code<BlockTQ2_0>(y[b].qs, e, static_cast<uint32_t>(c));  // c & 3, as ggml
    }
    x += kQK;
  }
}

// x: n / 256 blocks; y: n floats, y = (c - 1) * d. Throws trix::Error if
// n % 256 != 0. Code 3 (never written by the quantizer) decodes to 2 * d, as
// in ggml.
inline void dequantize_row_tq2_0(const BlockTQ2_0* x, float* y, size_t n) {
  constexpr size_t kQK = BlockTQ2_0::kElements;
  trix::detail::require_multiple("dequantize_row_tq2_0", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (size_t e = 0; e < kQK; ++e) {
      *y++ = static_cast<float>(static_cast<int32_t>(trix::detail::get_code<BlockTQ2_0>(x[b].qs, e)) - 1) * d;
    }
  }
}

// Dot product of a TQ2_0 row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error).
//
// Float contract (SIMD, CUDA and Metal kernels reproduce it bit for bit):
//   acc = 0.0f
//   for each block b in order:
//     isum = sum_i (c_i - 1) * a[b].qs[i]            exact int32, |isum| <= 2^16
//     acc  = fma(float(isum), fp16_to_fp32(w[b].d) * a[b].d, acc)
//   return acc
// The scale product is one float multiply (weight scale first), then one
// fused multiply-add per block; no other rounding. Kernels may compute isum
// in any order (it is exact), e.g. as sum(c * q) - sum(bsums).
inline float vec_dot_tq2_0_q8_k(const BlockTQ2_0* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = BlockTQ2_0::kElements;
  static_assert(BlockQ8_K::kElements == kQK);
  trix::detail::require_multiple("vec_dot_tq2_0_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (size_t e = 0; e < kQK; ++e) {
      isum += (static_cast<int32_t>(trix::detail::get_code<BlockTQ2_0>(w[b].qs, e)) - 1) * a[b].qs[e];
    }
    acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w[b].d) * a[b].d, acc);
  }
  return acc;
}

}  // namespace trix
