// The Q4_K x Q8_K GEMV contract, shared by every backend ("q4k lanes16"):
// each block's integer sums split into 16 lanes, as for Q6_K
// (trix/kernels/gemv_q6_k_q8_k_ref.h).
//
// Per 256-element block b of a row, lane l (0..15) owns the elements
// e = 64 m + 4 l + i (m, i in 0..3): the int32 lane l of a 64-byte vector
// holding chunk m (low nibbles of qs[32m ..), then their high nibbles), so
// lane l sees sub-block 2 m + l / 8. With q(e) the 4-bit code (0..15) and
// sc[s], mn[s] the 6-bit sub-block scales and mins:
//   s_l = sum_m sc[2 m + l / 8] * sum_i q(e) * qs[e]          |s_l| < 2^20
//   t_l = mn[l] * (bsums[2 l] + bsums[2 l + 1])  (l < 8; 0 for l >= 8)
//   acc_l = fma(float(s_l),  fp16_to_fp32(d)    * d_a, acc_l)
//   acc_l = fma(float(-t_l), fp16_to_fp32(dmin) * d_a, acc_l)   (block order)
//   result = lanes16_combine(acc)                      (trix/kernels/lanes16.h)
// Every int -> float conversion is exact (|s_l|, |t_l| < 2^24). The
// integer sums add up to trix::vec_dot_q4_k_q8_k's isum_q and isum_m; only
// the float rounding differs. Precondition: the activations' bsums are the
// sums of their qs (Q8_K blocks from quantize_row_q8_k are).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q4_k.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/lanes16.h"

namespace trix::kernels {

// The 16 lane sums s_l and t_l of one block (see the file comment) of any
// block with the Q4_K scales layout whose element e has code Code(w, e):
// Q4_K here, Q5_K in trix/kernels/gemv_q5_k_q8_k_ref.h.
template <class Block, int32_t (*Code)(const Block&, size_t)>
inline void gemv_k4_q8_k_block_lanes(const Block& w, const BlockQ8_K& a, int32_t (&s)[16], int32_t (&t)[16]) {
  for (size_t l = 0; l < 16; ++l) {
    int32_t sum = 0;
    for (size_t m = 0; m < 4; ++m) {
      int32_t dot = 0;
      for (size_t i = 0; i < 4; ++i) {
        const size_t e = 64 * m + 4 * l + i;
        dot += Code(w, e) * int32_t{a.qs[e]};
      }
      sum += int32_t{trix::detail::q4_k_scale_min(w.scales, 2 * m + l / 8).scale} * dot;
    }
    s[l] = sum;
    t[l] = l < 8 ? int32_t{trix::detail::q4_k_scale_min(w.scales, l).min} *
                       (int32_t{a.bsums[2 * l]} + a.bsums[2 * l + 1])
                 : 0;
  }
}

// One row of k elements (k % 256 == 0).
template <class Block, int32_t (*Code)(const Block&, size_t)>
inline float gemv_k4_q8_k_row_ref(const Block* w, const BlockQ8_K* x, size_t k) {
  float acc[16] = {};
  for (size_t b = 0; b < k / Block::kElements; ++b) {
    int32_t s[16], t[16];
    gemv_k4_q8_k_block_lanes<Block, Code>(w[b], x[b], s, t);
    const float d = fp16_to_fp32(w[b].d) * x[b].d;
    const float dmin = fp16_to_fp32(w[b].dmin) * x[b].d;
    for (size_t l = 0; l < 16; ++l) {
      acc[l] = std::fma(static_cast<float>(s[l]), d, acc[l]);
      acc[l] = std::fma(static_cast<float>(-t[l]), dmin, acc[l]);
    }
  }
  return lanes16_combine(acc);
}

// Every row of args (W: rows of Block, x: Q8_K blocks).
template <class Block, int32_t (*Code)(const Block&, size_t)>
inline void gemv_k4_q8_k_ref(const GemvArgs& args) {
  for (uint64_t r = 0; r < args.rows; ++r) {
    const auto* row = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(args.w) + r * args.w_row_bytes);
    args.y[r] = gemv_k4_q8_k_row_ref<Block, Code>(row, static_cast<const BlockQ8_K*>(args.x), args.k);
  }
}

// The 16 lane sums s_l and t_l of one Q4_K block (see the file comment).
inline void gemv_q4_k_q8_k_block_lanes(const BlockQ4_K& w, const BlockQ8_K& a, int32_t (&s)[16],
                                       int32_t (&t)[16]) {
  gemv_k4_q8_k_block_lanes<BlockQ4_K, &trix::detail::q4_k_code>(w, a, s, t);
}

// One row of k elements (k % 256 == 0).
inline float gemv_q4_k_q8_k_row_ref(const BlockQ4_K* w, const BlockQ8_K* x, size_t k) {
  return gemv_k4_q8_k_row_ref<BlockQ4_K, &trix::detail::q4_k_code>(w, x, k);
}

// Every row of args (W: Q4_K rows, x: Q8_K blocks).
inline void gemv_q4_k_q8_k_ref(const GemvArgs& args) { gemv_k4_q8_k_ref<BlockQ4_K, &trix::detail::q4_k_code>(args); }

}  // namespace trix::kernels
