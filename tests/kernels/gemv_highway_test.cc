// The Highway ternary GEMV on every target compiled in, against the scalar
// lanes16 reference under its spec's accuracy contract (kAccuracy).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemv_highway_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <gtest/gtest.h>

#include "common/gemv_checks.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/gemv_test_data.h"
#include "trix/cpu/kernels-inl.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

void TestGemvMatchesReference() {
  ASSERT_TRUE(test::rows_meet_contract(kernels::gemv_tq2_0_q8_k::kAccuracy, test::gemv_problems(), gemv_tq2_0_q8_k,
                                       kernels::gemv_tq2_0_q8_k_row_ref))
      << hwy::TargetName(HWY_TARGET);
}

// Any split of the rows (as a thread pool makes) gives the same bits.
void TestGemvRowRangesAgree() {
  const auto p = test::make_gemv_problem(29, 2560, test::GemvCase::kRandom, 99);
  ASSERT_TRUE(test::row_splits_agree(p.rows, {1, 5, 13, 28},
                                     [&](float* y, size_t b, size_t e) { gemv_tq2_0_q8_k(p.args(y), b, e); }))
      << hwy::TargetName(HWY_TARGET);
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
