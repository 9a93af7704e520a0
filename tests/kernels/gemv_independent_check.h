// Checks a GPU-path TQ2_0 x Q8_K GEMV (CUDA grid emulation, Metal shim) with
// code that shares nothing with the kernel body they all include
// (trix/kernels/gemv_tq2_0_q8_k.body.h), so a layout bug planted there
// cannot cancel out:
//  * an fp64 dot written here from DESIGN.md's TQ2_0 layout ("byte j+m,
//    j in {0,32}, m < 32, holds elements 4j+m+32n at bits 2n"; code c ->
//    c-1) and Q8_K's (y = d * qs[e]), within a float-error bound;
//  * the Highway kernels' results (gemv_highway_peer.cc), bit for bit, as
//    every backend follows the lanes16 contract. Their x86 / NEON paths have
//    their own code (only EMU128 / SCALAR fall back to the body), so on the
//    machines CI uses this is a second independent implementation.
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

void highway_gemv_tq2_0_q8_k(const GemvArgs& args);  // gemv_highway_peer.cc

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

// Compares `got` (one problem's rows from a GPU-path emulation) with the fp64
// dot and with the Highway kernels. Returns the largest |error| / tolerance
// seen, to show the bound is tight (well below 1 when right, far above it
// for a layout bug).
inline double expect_matches_independent(const GemvProblem& p, const std::vector<float>& got) {
  std::vector<float> peer(p.rows, -1.0f);
  highway_gemv_tq2_0_q8_k(p.args(peer.data()));
  double worst = 0.0;
  for (size_t r = 0; r < p.rows; ++r) {
    const Fp64Row want = gemv_row_fp64(p, r);
    const double err = std::fabs(static_cast<double>(got[r]) - want.value);
    worst = std::max(worst, want.tolerance > 0 ? err / want.tolerance : (err > 0 ? INFINITY : 0.0));
    EXPECT_LE(err, want.tolerance) << p.label << " row " << r << ": " << got[r] << " vs fp64 " << want.value;
    // Highway and the GPU bodies follow one contract: held to what the
    // spec's accuracy field says (bit_exact today).
    EXPECT_TRUE(meets_contract(kernels::gemv_tq2_0_q8_k::kAccuracy, peer[r], got[r]))
        << p.label << " row " << r << ": GPU path vs Highway";
  }
  return worst;
}

}  // namespace trix::test
