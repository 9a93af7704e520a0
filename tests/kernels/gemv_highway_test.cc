// The Highway ternary GEMV on every target compiled in, against the scalar
// lanes16 reference under its spec's accuracy contract (kAccuracy).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemv_highway_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <gtest/gtest.h>

#include "common/kernel_accuracy.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/gemv_test_data.h"
#include "trix/cpu/kernels-inl.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

void TestGemvMatchesReference() {
  for (const auto& p : test::gemv_problems()) {
    std::vector<float> want(p.rows), got(p.rows, -1.0f);
    kernels::gemv_tq2_0_q8_k_ref(p.args(want.data()));
    gemv_tq2_0_q8_k(p.args(got.data()), 0, p.rows);
    for (size_t r = 0; r < p.rows; ++r) {
      ASSERT_TRUE(test::meets_contract(kernels::gemv_tq2_0_q8_k::kAccuracy, want[r], got[r]))
          << hwy::TargetName(HWY_TARGET) << " " << p.label << " row " << r;
    }
  }
}

// Any split of the rows (as a thread pool makes) gives the same bits.
void TestGemvRowRangesAgree() {
  const auto p = test::make_gemv_problem(29, 2560, test::GemvCase::kRandom, 99);
  std::vector<float> whole(p.rows), parts(p.rows);
  gemv_tq2_0_q8_k(p.args(whole.data()), 0, p.rows);
  for (size_t split : {1u, 5u, 13u, 28u}) {
    gemv_tq2_0_q8_k(p.args(parts.data()), 0, split);
    gemv_tq2_0_q8_k(p.args(parts.data()), split, p.rows);
    for (size_t r = 0; r < p.rows; ++r) ASSERT_TRUE(test::same_bits(whole[r], parts[r])) << split;
  }
}

// The kernel must agree with the plain per-block dot of the format within
// float rounding: a check that the contract itself computes the right thing.
void TestGemvCloseToFormatDot() {
  const auto p = test::make_gemv_problem(16, 4096, test::GemvCase::kRandom, 7);
  std::vector<float> got(p.rows);
  gemv_tq2_0_q8_k(p.args(got.data()), 0, p.rows);
  for (size_t r = 0; r < p.rows; ++r) {
    double exact = 0, magnitude = 0;
    for (size_t b = 0; b < p.k / 256; ++b) {
      const BlockTQ2_0& w = p.w[r * (p.k / 256) + b];
      int64_t isum = 0, iabs = 0;
      for (size_t e = 0; e < 256; ++e) {
        const size_t byte = (e / 128) * 32 + e % 32;
        const int c = (w.qs[byte] >> (2 * ((e % 128) / 32))) & 3;
        isum += (c - 1) * p.x[b].qs[e];
        iabs += std::abs((c - 1) * p.x[b].qs[e]);
      }
      const double s = static_cast<double>(fp16_to_fp32(w.d)) * p.x[b].d;
      exact += s * static_cast<double>(isum);
      magnitude += std::fabs(s) * static_cast<double>(iabs);
    }
    // Float accumulation over nb blocks and 16 lanes: error below 1e-6 of the
    // sum of magnitudes (each step rounds at most 2^-24 relative).
    EXPECT_NEAR(got[r], exact, 1e-6 * magnitude + 1e-30) << "row " << r;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::cpu {
HWY_BEFORE_TEST(GemvTernaryTest);
HWY_EXPORT_AND_TEST_P(GemvTernaryTest, TestGemvMatchesReference);
HWY_EXPORT_AND_TEST_P(GemvTernaryTest, TestGemvRowRangesAgree);
HWY_EXPORT_AND_TEST_P(GemvTernaryTest, TestGemvCloseToFormatDot);

// Every x86 target we ship a fast path for must be compiled in, so the
// per-target tests above really cover them.
TEST(GemvTernaryTargets, FastPathTargetsCompiled) {
#if HWY_ARCH_X86
  EXPECT_NE(HWY_TARGETS & HWY_AVX3_DL, 0) << "AVX3_DL (VNNI) not compiled";
  EXPECT_NE(HWY_TARGETS & HWY_AVX3, 0);
  EXPECT_NE(HWY_TARGETS & HWY_AVX2, 0);
  EXPECT_NE(HWY_TARGETS & HWY_SSE4, 0);
#endif
}
}  // namespace trix::cpu
#endif
