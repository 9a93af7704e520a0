// Q8_0: ggml's 8-bit blocks. 32 elements per block: f16 d, int8 qs[32],
// 34 bytes. Value = q * d.
//
// quantize_row_q8_0 produces the same bytes as ggml's quantize_row_q8_0_ref:
//   amax = max |x| (running ggml MAX);  d = amax / 127 (stored as f16);
//   id = d != 0 ? 1 / d : 0;  q = roundf(x * id)   (half away from zero)
// The scale is computed in f32 and only its f16 rounding is stored, so
// |q| <= 127 for finite input. All-zero block: d = 0, q = 0, no NaN.
// Non-finite input, as ggml on x86: a NaN resets the running max (ggml's
// `a > b ? a : b`); roundf of NaN/inf, or of a value outside int32, stores
// 0 (the low byte of x86's INT32_MIN); other out-of-range values (possible
// after a NaN reset) keep their low 8 bits, as the C conversion does there.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"

namespace trix {

// x: n floats; y: n / 32 blocks. Throws trix::Error if n % 32 != 0.
inline void quantize_row_q8_0(const float* x, BlockQ8_0* y, size_t n) {
  constexpr size_t kQK = BlockQ8_0::kElements;
  trix::detail::require_multiple("quantize_row_q8_0", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = trix::detail::ggml_max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (size_t j = 0; j < kQK; ++j) {
      const float r = std::round(x[j] * id);
      y[b].qs[j] = trix::detail::wrap_to_int8(trix::detail::x86_float_to_int32(r));
    }
  }
}

// x: n / 32 blocks; y: n floats, y = q * d. Throws trix::Error if n % 32 != 0.
inline void dequantize_row_q8_0(const BlockQ8_0* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ8_0::kElements;
  trix::detail::require_multiple("dequantize_row_q8_0", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (size_t j = 0; j < kQK; ++j) *y++ = static_cast<float>(x[b].qs[j]) * d;
  }
}

// Dot product of two Q8_0 rows of n elements (n % 32 == 0, else trix::Error).
//
// Float contract (every backend reproduces it bit for bit):
//   acc = 0.0f
//   for each block b in order:
//     isum = sum_i w[b].qs[i] * a[b].qs[i]            exact int32, |isum| <= 2^19
//     acc  = fma(float(isum), fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d), acc)
//   return acc
// float(isum) is exact (|isum| < 2^24); the scale product is one float
// multiply, weight scale first.
inline float vec_dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* a, size_t n) {
  constexpr size_t kQK = BlockQ8_0::kElements;
  trix::detail::require_multiple("vec_dot_q8_0_q8_0", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (size_t j = 0; j < kQK; ++j) isum += int32_t{w[b].qs[j]} * int32_t{a[b].qs[j]};
    acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d), acc);
  }
  return acc;
}

}  // namespace trix
