// Codec and reference dot of the test-only toy4 format
// (tests/codegen/toy_format/specs/formats/toy4.yaml): 32 values per block,
// x = d * (q - 8) with q a nibble and d = max |x| / 7 stored as f16.
// Found by trix-gen's codec convention (trix/formats/<name>.h,
// quantize_row_<name>, dequantize_row_<name>, vec_dot_<name>_<activations>).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"

namespace trix {

// x: n floats, y: n / 32 blocks. Throws trix::Error if n % 32 != 0.
inline void quantize_row_toy4(const float* x, BlockTOY4* y, size_t n) {
  trix::detail::require_multiple("quantize_row_toy4", n, BlockTOY4::kElements);
  for (size_t b = 0; b < n / BlockTOY4::kElements; ++b) {
    const float* xb = x + b * BlockTOY4::kElements;
    float amax = 0.0f;
    for (size_t i = 0; i < BlockTOY4::kElements; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const uint16_t d16 = fp32_to_fp16(amax / 7.0f);
    const float d = fp16_to_fp32(d16);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = d16;
    for (size_t j = 0; j < BlockTOY4::kElements / 2; ++j) {
      uint8_t byte = 0;
      for (size_t h = 0; h < 2; ++h) {
        const float q = std::nearbyint(xb[2 * j + h] * id);
        const int c = static_cast<int>(std::fmin(7.0f, std::fmax(-7.0f, q))) + 8;
        byte = static_cast<uint8_t>(byte | (c << (4 * h)));
      }
      y[b].qs[j] = byte;
    }
  }
}

// Code q - 8 of element e of a block.
inline int32_t toy4_value(const BlockTOY4& blk, size_t e) {
  return static_cast<int32_t>((blk.qs[e / 2] >> (4 * (e % 2))) & 15) - 8;
}

// x: n / 32 blocks, y: n floats. Throws trix::Error if n % 32 != 0.
inline void dequantize_row_toy4(const BlockTOY4* x, float* y, size_t n) {
  trix::detail::require_multiple("dequantize_row_toy4", n, BlockTOY4::kElements);
  for (size_t b = 0; b < n / BlockTOY4::kElements; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (size_t e = 0; e < BlockTOY4::kElements; ++e) *y++ = d * static_cast<float>(toy4_value(x[b], e));
  }
}

// The toy's kernel: a toy4 row times a Q8_0 row, n % 32 == 0.
// Contract: acc = 0; per block in order acc += (d_w * d_a) * float(isum),
// isum = sum (q - 8) * a exact in int32.
inline float vec_dot_toy4_q8_0(const BlockTOY4* w, const BlockQ8_0* a, size_t n) {
  static_assert(BlockQ8_0::kElements == BlockTOY4::kElements);
  trix::detail::require_multiple("vec_dot_toy4_q8_0", n, BlockTOY4::kElements);
  float acc = 0.0f;
  for (size_t b = 0; b < n / BlockTOY4::kElements; ++b) {
    int32_t isum = 0;
    for (size_t e = 0; e < BlockTOY4::kElements; ++e) isum += toy4_value(w[b], e) * a[b].qs[e];
    acc += fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d) * static_cast<float>(isum);
  }
  return acc;
}

}  // namespace trix
