// The Q5_K x Q8_K GEMV contract, shared by every backend ("q5k lanes16"):
// the "q4k lanes16" contract of trix/kernels/gemv_q4_k_q8_k_ref.h with q(e)
// the 5-bit Q5_K code (0..31, trix::detail::q5_k_code): the same lanes, the
// same scales and mins layout, |s_l| < 2^21, every int -> float conversion
// exact. The integer sums add up to trix::vec_dot_q5_k_q8_k's isum_q and
// isum_m; only the float rounding differs. Precondition: the activations'
// bsums are the sums of their qs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trix/formats/blocks.h"
#include "trix/formats/q5_k.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_q4_k_q8_k_ref.h"

namespace trix::kernels {

// The 16 lane sums s_l and t_l of one Q5_K block.
inline void gemv_q5_k_q8_k_block_lanes(const BlockQ5_K& w, const BlockQ8_K& a, int32_t (&s)[16],
                                       int32_t (&t)[16]) {
  gemv_k4_q8_k_block_lanes<BlockQ5_K, &trix::detail::q5_k_code>(w, a, s, t);
}

// One row of k elements (k % 256 == 0).
inline float gemv_q5_k_q8_k_row_ref(const BlockQ5_K* w, const BlockQ8_K* x, size_t k) {
  return gemv_k4_q8_k_row_ref<BlockQ5_K, &trix::detail::q5_k_code>(w, x, k);
}

// Every row of args (W: Q5_K rows, x: Q8_K blocks).
inline void gemv_q5_k_q8_k_ref(const GemvArgs& args) { gemv_k4_q8_k_ref<BlockQ5_K, &trix::detail::q5_k_code>(args); }

}  // namespace trix::kernels
