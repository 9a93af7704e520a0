// The Q6_K x Q8_K GEMV contract, shared by every backend: a fixed split of
// each block's integer sum into 16 lanes, so fast kernels match it bit for
// bit on every target ("q6k lanes16").
//
// Per 256-element block b of a row, lane l (0..15) owns the elements
// e = 64 m + 4 l + i (m, i in 0..3): the int32 lane l of a 64-byte vector m
// in an x86 u8 x s8 dot (vpmaddubsw + vpmaddwd / vpdpwssd). With u(e) the
// unsigned 6-bit code (0..63, value u - 32) and sc[g] the int8 sub-block
// scales:
//   s_l = sum_m sc[4 m + l / 4] * sum_i u(e) * qs[e]
//         - 32 * (sc[2 l] * bsums[2 l] + sc[2 l + 1] * bsums[2 l + 1])   (l < 8)
// The second term is the -32 offset of the codes, taken from the Q8_K
// bsums (ggml's trick) and charged to lanes 0..7. Exact in int32:
// |s_l| <= 4 * 128 * 4 * 63 * 128 + 32 * 2 * 128 * 4096 < 2^26.
//   acc_l = fma(float(s_l), fp16_to_fp32(d_w) * d_a, acc_l)   (block order)
//   result = lanes16_combine(acc)                      (trix/kernels/lanes16.h)
// float(s_l) may round (|s_l| can exceed 2^24): part of the contract. The
// total integer sum equals trix::vec_dot_q6_k_q8_k's; only the float
// rounding differs (that reference keeps one accumulator per row), so the
// two agree to within (n / 256 + 5) * 2^-24 * sum_b |isum_b d_b| plus the
// int -> float roundings.
// Precondition: the activations' bsums are the sums of their qs (Q8_K
// blocks from quantize_row_q8_k are).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q6_k.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/lanes16.h"

namespace trix::kernels {

// The 16 lane sums s_l of one block (see the file comment).
inline void gemv_q6_k_q8_k_block_lanes(const BlockQ6_K& w, const BlockQ8_K& a, int32_t (&s)[16]) {
  for (size_t l = 0; l < 16; ++l) {
    int32_t sum = 0;
    for (size_t m = 0; m < 4; ++m) {
      int32_t dot = 0;
      for (size_t i = 0; i < 4; ++i) {
        const size_t e = 64 * m + 4 * l + i;
        dot += (trix::detail::q6_k_code(w, e) + 32) * int32_t{a.qs[e]};
      }
      sum += int32_t{w.scales[4 * m + l / 4]} * dot;
    }
    if (l < 8) {
      sum -= 32 * (int32_t{w.scales[2 * l]} * a.bsums[2 * l] +
                   int32_t{w.scales[2 * l + 1]} * a.bsums[2 * l + 1]);
    }
    s[l] = sum;
  }
}

// One row of k elements (k % 256 == 0).
inline float gemv_q6_k_q8_k_row_ref(const BlockQ6_K* w, const BlockQ8_K* x, size_t k) {
  float acc[16] = {};
  for (size_t b = 0; b < k / BlockQ6_K::kElements; ++b) {
    int32_t s[16];
    gemv_q6_k_q8_k_block_lanes(w[b], x[b], s);
    const float d = fp16_to_fp32(w[b].d) * x[b].d;
    for (size_t l = 0; l < 16; ++l) acc[l] = std::fma(static_cast<float>(s[l]), d, acc[l]);
  }
  return lanes16_combine(acc);
}

// Every row of args (W: Q6_K rows, x: Q8_K blocks).
inline void gemv_q6_k_q8_k_ref(const GemvArgs& args) {
  for (uint64_t r = 0; r < args.rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ6_K*>(static_cast<const uint8_t*>(args.w) +
                                                         r * args.w_row_bytes);
    args.y[r] = gemv_q6_k_q8_k_row_ref(row, static_cast<const BlockQ8_K*>(args.x), args.k);
  }
}

}  // namespace trix::kernels
