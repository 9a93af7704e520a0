// The TriX sparse-lookup FFN's Highway ops (trix/cpu/sparse_lookup-inl.h)
// on every compiled target against fp64 written here: LayerNorm within
// 1e-5 relative, ternary signature scores within 1e-6 of sum |x| (and equal
// rows giving bit-equal scores, so ties stay ties), axpy within 1e-6
// relative. Sizes cover tails and the 16-element signature words.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/sparse_lookup_ops_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "trix/cpu/sparse_lookup-inl.h"

#ifndef TRIX_SPARSE_LOOKUP_OPS_TEST_HELPERS_
#define TRIX_SPARSE_LOOKUP_OPS_TEST_HELPERS_
namespace trix::slf_ops_test {
inline std::vector<float> random_vec(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return v;
}
}  // namespace trix::slf_ops_test
#endif  // TRIX_SPARSE_LOOKUP_OPS_TEST_HELPERS_

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

const size_t kSlfSizes[] = {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 128, 2047, 2048, 2051};

void TestLayerNormMatchesFp64() {
  for (size_t n : kSlfSizes) {
    const auto x = slf_ops_test::random_vec(n, static_cast<uint32_t>(n), -3.0f, 5.0f);
    const auto w = slf_ops_test::random_vec(n, static_cast<uint32_t>(n + 1), 0.5f, 1.5f);
    const auto b = slf_ops_test::random_vec(n, static_cast<uint32_t>(n + 2), -0.5f, 0.5f);
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= static_cast<double>(n);
    for (float v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(n);
    std::vector<float> got(n), inplace = x;
    LayerNorm(x.data(), w.data(), b.data(), got.data(), n, 1e-5f);
    LayerNorm(inplace.data(), w.data(), b.data(), inplace.data(), n, 1e-5f);
    for (size_t i = 0; i < n; ++i) {
      const double ref = (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i];
      ASSERT_NEAR(got[i], ref, 1e-5 * (1 + std::fabs(ref))) << hwy::TargetName(HWY_TARGET) << " n=" << n << " i=" << i;
      ASSERT_EQ(got[i], inplace[i]) << hwy::TargetName(HWY_TARGET) << " in place n=" << n;
    }
  }
}

void TestSignatureScoresMatchFp64() {
  for (size_t n : kSlfSizes) {
    const size_t words = (n + 15) / 16, rows = 6;
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::uniform_int_distribution<int> code(0, 2);
    std::vector<uint32_t> sigs(rows * words, 0u);
    std::vector<int> sign(rows * n);
    for (size_t r = 0; r < rows; ++r) {
      for (size_t e = 0; e < n; ++e) {
        // Row 4 repeats row 1: their scores must be equal bit for bit.
        const int c = r == 4 ? (sigs[1 * words + e / 16] >> (2 * (e % 16))) & 3u : code(rng);
        sigs[r * words + e / 16] |= static_cast<uint32_t>(c) << (2 * (e % 16));
        sign[r * n + e] = c == 1 ? 1 : c == 2 ? -1 : 0;
      }
    }
    const auto x = slf_ops_test::random_vec(n, static_cast<uint32_t>(n + 7), -2.0f, 2.0f);
    std::vector<float> scores(rows);
    TernarySignatureScores(x.data(), sigs.data(), words, rows, n, scores.data());
    for (size_t r = 0; r < rows; ++r) {
      double ref = 0, mag = 0;
      for (size_t e = 0; e < n; ++e) {
        ref += x[e] * sign[r * n + e];
        mag += std::fabs(x[e]);
      }
      ASSERT_NEAR(scores[r], ref, 1e-6 * mag) << hwy::TargetName(HWY_TARGET) << " n=" << n << " row " << r;
    }
    ASSERT_EQ(scores[1], scores[4]) << hwy::TargetName(HWY_TARGET) << " n=" << n;
  }
}

void TestAxpyMatchesFp64() {
  for (size_t n : kSlfSizes) {
    const auto x = slf_ops_test::random_vec(n, static_cast<uint32_t>(n + 3), -2.0f, 2.0f);
    auto y = slf_ops_test::random_vec(n, static_cast<uint32_t>(n + 4), -2.0f, 2.0f);
    const auto y0 = y;
    Axpy(-0.625f, x.data(), y.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const double ref = static_cast<double>(y0[i]) - 0.625 * x[i];
      ASSERT_NEAR(y[i], ref, 1e-6 * (1 + std::fabs(ref))) << hwy::TargetName(HWY_TARGET) << " n=" << n;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::cpu {
HWY_BEFORE_TEST(SparseLookupOpsTest);
HWY_EXPORT_AND_TEST_P(SparseLookupOpsTest, TestLayerNormMatchesFp64);
HWY_EXPORT_AND_TEST_P(SparseLookupOpsTest, TestSignatureScoresMatchFp64);
HWY_EXPORT_AND_TEST_P(SparseLookupOpsTest, TestAxpyMatchesFp64);
}  // namespace trix::cpu
#endif
