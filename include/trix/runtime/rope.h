// The rotary-embedding table of one position, shared by the reference ops
// (trix/runtime/reference_ops.h) and the decoder (trix/runtime/forward.h).
#pragma once

#include <cmath>
#include <cstdint>
namespace trix {

// cos/sin of the rotary angles of position `pos`: pair i (0 <= i <
// head_dim/2) turns by pos * theta^(-2i/head_dim). Computed in double and
// rounded once, so the table is accurate to 1/2 ulp at any position; one
// table serves every head and layer of a token.
inline void rope_table(int64_t pos, int64_t head_dim, float theta, float* cos_out,
                       float* sin_out) {
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const double freq = std::pow(static_cast<double>(theta),
                                 -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
    const double angle = static_cast<double>(pos) * freq;
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

}  // namespace trix
