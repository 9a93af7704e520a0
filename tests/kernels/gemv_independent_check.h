// The fp64 check of a TQ2_0 x Q8_K GEMV for the GPU-path tests
// (gpu_gemv_cases.h), sharing nothing with the kernel body
// (trix/kernels/gemv_tq2_0_q8_k.body.h), so a layout bug planted there cannot
// cancel out: a dot written here from DESIGN.md's TQ2_0 layout ("byte j+m,
// j in {0,32}, m < 32, holds elements 4j+m+32n at bits 2n"; code c -> c-1)
// and Q8_K's (y = d * qs[e]), within a float-error bound. (The Highway
// kernels are the other peer: their x86 / NEON paths have their own code;
// only EMU128 / SCALAR fall back to the body.)
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/kernel_accuracy.h"
#include "kernels/gemv_test_data.h"
#include "trix/core/fp16.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_tq2_0_q8_k.h"

namespace trix::test {

// Element e of a TQ2_0 block as -1, 0 or +1, from DESIGN.md's layout.
inline int tq2_0_weight_from_design(const BlockTQ2_0& b, size_t e) {
  const size_t j = 32 * (e / 128), m = e % 32, n = (e % 128) / 32;
  return static_cast<int>((b.qs[j + m] >> (2 * n)) & 3u) - 1;
}

struct Fp64Row {
  double value;      // the exact y[r] of the dequantized operands
  double tolerance;  // bound on |float result - value| for the lanes16 contract
};

// y[r] in fp64 and the contract's float-error bound: per lane, nb fma steps
// each round once relative to the running sum (2^-24), d_w * d_a rounds once,
// and the 4-level butterfly adds 4 roundings, so |err| <= (nb + 5) 2^-24
// sum |terms| to first order; sum |terms| over elements bounds the lanes'
// sum |lane sums|. (nb + 6) covers the higher-order terms.
inline Fp64Row gemv_row_fp64(const GemvProblem& p, size_t r) {
  const size_t nb = p.k / 256;
  double value = 0.0, magnitude = 0.0;
  for (size_t b = 0; b < nb; ++b) {
    const BlockTQ2_0& w = p.w[r * nb + b];
    const BlockQ8_K& x = p.x[b];
    const double dw = fp16_to_fp32(w.d), dx = x.d;
    for (size_t e = 0; e < 256; ++e) {
      const double t = tq2_0_weight_from_design(w, e) * dw * (x.qs[e] * dx);
      value += t;
      magnitude += std::fabs(t);
    }
  }
  return {value, static_cast<double>(nb + 6) * 0x1p-24 * magnitude};
}

}  // namespace trix::test
