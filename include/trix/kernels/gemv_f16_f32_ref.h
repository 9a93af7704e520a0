// The F16 x F32 GEMV contract, shared by every backend: a fixed summation
// order, so fast kernels match it bit for bit on every target.
//
//   acc[l] = +0 for l < 16
//   for i in [0, n): acc[i % 16] = fma(float(w[i]), x[i], acc[i % 16])
//   result = lanes16_combine(acc)          (trix/kernels/lanes16.h)
//
// float(w[i]) is exact (every f16 is an f32). Against the fp64 reference
// trix::vec_dot_f16_f32 the error is at most about (n / 16 + 5) * 2^-24 *
// sum |w_i x_i|, inside the bound stated there ((n + 1) * 2^-24 * sum |w_i
// x_i|), which tests use. Any n, including 0 (result +0).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/kernels/lanes16.h"

namespace trix::kernels {

inline float gemv_f16_f32_row_ref(const uint16_t* w, const float* x, size_t n) {
  float acc[16] = {};
  for (size_t i = 0; i < n; ++i) acc[i % 16] = std::fma(fp16_to_fp32(w[i]), x[i], acc[i % 16]);
  return lanes16_combine(acc);
}

}  // namespace trix::kernels
