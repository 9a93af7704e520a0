// Q8_K: ggml's activation format for the K-quant and ternary dot products.
// 256 elements per block: f32 d, int8 qs[256], int16 bsums[16] (sum of each
// run of 16 codes), 292 bytes. Value = d * q.
//
// quantize_row_q8_k produces the same bytes as ggml's quantize_row_q8_K_ref:
//   max   = the element of largest |x| (first one on ties; NaN never wins)
//   if |max| == 0: d = 0, qs = 0, bsums = 0   (ggml leaves bsums untouched
//                                               there; TriX writes zeros)
//   iscale = -127 / max;  q = min(127, nearest_int(iscale * x));  d = 1 / iscale
// nearest_int rounds half to even. Codes lie in [-127, 127]; |bsums| <= 2032.
// Non-finite input: a NaN element gets code 0 (ggml's nearest_int reads the
// NaN's payload bits, which is 0 for the quiet NaN hardware produces; TriX
// pins 0 for every NaN). An infinite element makes max = +-inf, so iscale =
// -+0 and d = -+inf; finite elements get code 0 and infinite ones code 0 too
// (0 * inf = NaN). Same bytes as ggml on x86 for all but NaN payloads.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/formats/blocks.h"
#include "trix/formats/common.h"

namespace trix {

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
inline void quantize_row_q8_k(const float* x, BlockQ8_K* y, size_t n) {
  constexpr size_t kQK = BlockQ8_K::kElements;
  trix::detail::require_multiple("quantize_row_q8_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    BlockQ8_K& out = y[b];
    float max = 0.0f;
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      out.d = 0.0f;
      for (auto& q : out.qs) q = 0;
      for (auto& s : out.bsums) s = 0;
      continue;
    }
    const float iscale = -127.0f / max;
    for (size_t j = 0; j < kQK; ++j) {
      const float scaled = iscale * x[j];
      const int32_t v = std::isnan(scaled) ? 0 : trix::detail::ggml_nearest_int(scaled);
      out.qs[j] = trix::detail::wrap_to_int8(v < 127 ? v : 127);
    }
    for (size_t g = 0; g < kQK / 16; ++g) {
      int32_t sum = 0;
      for (size_t i = 0; i < 16; ++i) sum += out.qs[g * 16 + i];
      out.bsums[g] = static_cast<int16_t>(sum);  // |sum| <= 16 * 128: fits
    }
    out.d = 1.0f / iscale;
  }
}

// x: n / 256 blocks; y: n floats, y = d * q. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q8_k(const BlockQ8_K* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ8_K::kElements;
  trix::detail::require_multiple("dequantize_row_q8_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    for (size_t j = 0; j < kQK; ++j) *y++ = x[b].d * static_cast<float>(x[b].qs[j]);
  }
}

}  // namespace trix
