// A TQ2_0 quantizer that gives the same bytes as quantize_row_tq2_0 (and so
// as ggml's quantize_row_tq2_0_ref) at several times its speed, written as
// plain fixed-trip loops that compilers auto-vectorise (SSE2 and up).
//
// Why it is exact: for a block whose values are all finite and whose scale
// d = max |x| has a finite inverse, every v = x * id lies in [-1 - u, 1 + u]
// (u: one rounding), where lroundf(v) is -1 for v <= -0.5, +1 for v >= 0.5
// and 0 otherwise; two float compares give the same code. Over finite
// values the running `a > b ? a : b` of the reference is the plain maximum,
// and the maximum of |x| is the maximum of their bit patterns read as
// integers (sign cleared), which vectorises without NaN rules. Any other
// block (a NaN or inf inside, or d so small that 1 / d overflows) goes to
// the reference quantizer, so the bytes match for every input.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/tq2_0.h"

namespace trix {

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
inline void quantize_row_tq2_0_fast(const float* x, BlockTQ2_0* y, size_t n) {
  using B = BlockTQ2_0;
  constexpr size_t kQK = B::kElements;
  constexpr size_t kFields = B::kGroupCodes / B::kGroupBytes;
  static_assert(B::kCodeBits == 2 && kQK % B::kGroupCodes == 0);
  constexpr uint32_t kExpAllOnes = 0x7f800000u;  // |x| bits at or above: inf or NaN
  trix::detail::require_multiple("quantize_row_tq2_0_fast", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    uint32_t bits[kQK];
    std::memcpy(bits, x, sizeof bits);
    int32_t amax_bits = 0;  // |x| bits fit in 31 bits: signed max vectorises on SSE2
    for (size_t j = 0; j < kQK; ++j) {
      const int32_t a = static_cast<int32_t>(bits[j] & 0x7fffffffu);
      amax_bits = a > amax_bits ? a : amax_bits;
    }
    const float d = bits_float(static_cast<uint32_t>(amax_bits));
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (static_cast<uint32_t>(amax_bits) >= kExpAllOnes || !std::isfinite(id)) {
      quantize_row_tq2_0(x, y + b, kQK);
      continue;
    }
    uint8_t code[kQK];
    for (size_t j = 0; j < kQK; ++j) {
      const float v = x[j] * id;
      code[j] = static_cast<uint8_t>(1 + (v >= 0.5f ? 1 : 0) - (v <= -0.5f ? 1 : 0));
    }
    for (size_t g = 0; g < kQK / B::kGroupCodes; ++g) {
      const uint8_t* c = code + g * B::kGroupCodes;
      uint8_t* q = y[b].qs + g * B::kGroupBytes;
      for (size_t m = 0; m < B::kGroupBytes; ++m) {
        uint32_t byte = 0;
        for (size_t f = 0; f < kFields; ++f) byte |= uint32_t{c[f * B::kGroupBytes + m]} << B::code_shift(f);
        q[m] = static_cast<uint8_t>(byte);
      }
    }
    y[b].d = fp32_to_fp16(d);
  }
}

}  // namespace trix
