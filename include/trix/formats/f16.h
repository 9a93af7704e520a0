// F32 / F16 / BF16 rows: element-wise conversions bit-identical to ggml's
// (ggml_fp32_to_fp16_row and friends; see trix/core/fp16.h for rounding,
// NaN and overflow rules), the F16 x F32 / BF16 x F32 reference dots, and
// the fixed 8-lane float dots of the runtime's reference matmul (dot8_*).
// No block structure: any n is valid, including 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "trix/core/fp16.h"

namespace trix {

// F32 is stored as is; these exist so every format has the same pair.
inline void quantize_row_f32(const float* x, float* y, size_t n) {
  if (n != 0) std::memcpy(y, x, n * sizeof(float));
}
inline void dequantize_row_f32(const float* x, float* y, size_t n) {
  if (n != 0) std::memcpy(y, x, n * sizeof(float));
}

// Round to nearest even; overflow -> inf; NaN stays NaN (quiet).
inline void quantize_row_f16(const float* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}
// Exact.
inline void dequantize_row_f16(const uint16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i]);
}

// Round to nearest even; NaN forced quiet.
inline void quantize_row_bf16(const float* x, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = fp32_to_bf16(x[i]);
}
// Exact.
inline void dequantize_row_bf16(const uint16_t* x, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i]);
}

// Dot product of an F16 row with an F32 row.
//
// Reference value: every product half(w_i) * x_i is exact in double (11 x 24
// significant bits); they are summed in double in index order and the sum is
// rounded to float once. Fast kernels sum in float in their own order and
// are compared to this with the usual bound
//   |kernel - ref| <= (n * 2^-24 + 2^-24) * sum_i |w_i * x_i|   (+ ref's own
//   double rounding, negligible), so tests use a tolerance of that form.
// Non-finite inputs propagate as in IEEE arithmetic (inf - inf = NaN).
inline float vec_dot_f16_f32(const uint16_t* w, const float* x, size_t n) {
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i) acc += double{fp16_to_fp32(w[i])} * double{x[i]};
  return static_cast<float>(acc);
}

// Same contract as vec_dot_f16_f32, for BF16 weights (8 x 24 bits: exact).
inline float vec_dot_bf16_f32(const uint16_t* w, const float* x, size_t n) {
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i) acc += double{bf16_to_fp32(w[i])} * double{x[i]};
  return static_cast<float>(acc);
}

// Sum of widen(w[i]) * x[i] in float with 8 running partial sums combined
// pairwise at the end: the order is fixed, so the result is the same in
// every build. The reference matmul's dot for f32 activations.
template <class W, class Widen>
float dot8(const W* w, const float* x, size_t n, Widen widen) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (size_t l = 0; l < 8; ++l) acc[l] += widen(w[i + l]) * x[i + l];
  }
  for (size_t l = 0; l < 8; ++l) {
    if (i + l < n) acc[l] += widen(w[i + l]) * x[i + l];  // tail: fewer than 8 left
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}
inline float dot8_f32(const float* w, const float* x, size_t n) {
  return dot8(w, x, n, [](float v) { return v; });
}
inline float dot8_f16_f32(const uint16_t* w, const float* x, size_t n) {
  return dot8(w, x, n, fp16_to_fp32);
}
inline float dot8_bf16_f32(const uint16_t* w, const float* x, size_t n) {
  return dot8(w, x, n, bf16_to_fp32);
}

}  // namespace trix
