// The Q8_0 x Q8_0, Q4_0 x Q8_0 and F16 x F32 GEMV (generated
// gemv_q8_0_q8_0, gemv_q4_0_q8_0 and gemv_f16_f32) on every Highway target
// compiled in:
//  - Q8_0: trix::vec_dot_q8_0_q8_0 per row, under the spec's accuracy
//          contract (kernels::gemv_q8_0_q8_0::kAccuracy: bit-exact);
//  - Q4_0: trix::vec_dot_q4_0_q8_0 per row, likewise (bit-exact), with
//          codes -8 / 7 in the extreme case;
//  - F16:  the lanes16 contract gemv_f16_f32_row_ref under the spec's
//          kAccuracy (bit-exact), and the
//          contract within (n + 1) * 2^-24 * sum |w x| of the fp64
//          trix::vec_dot_f16_f32 (the bound f16.h states for any float order);
// over random rows, all-zero rows, extreme values (|q| = 127/-128, f16
// max/subnormals), odd row counts and k not a multiple of the vector width.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemv_dense_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "common/gemv_checks.h"
#include "common/kernel_accuracy.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/gemv_dense_test_data.h"
#include "trix/core/fp16.h"
#include "trix/cpu/kernels-inl.h"
#include "trix/formats/f16.h"
#include "trix/formats/q4_0.h"
#include "trix/formats/q8_0.h"
#include "trix/kernels/gemv_f16_f32_ref.h"

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

void TestQ8_0GemvMatchesVecDot() {
  ASSERT_TRUE(test::rows_meet_contract(kernels::gemv_q8_0_q8_0::kAccuracy, test::q8_problems(), gemv_q8_0_q8_0,
                                       vec_dot_q8_0_q8_0))
      << hwy::TargetName(HWY_TARGET);
}

void TestQ4_0GemvMatchesVecDot() {
  ASSERT_TRUE(test::rows_meet_contract(kernels::gemv_q4_0_q8_0::kAccuracy, test::q4_0_problems(), gemv_q4_0_q8_0,
                                       vec_dot_q4_0_q8_0))
      << hwy::TargetName(HWY_TARGET);
}

void TestF16GemvMatchesContract() {
  for (const auto& p : test::f16_problems()) {
    std::vector<float> got(p.rows, -1.0f);
    gemv_f16_f32(p.args(got.data()), 0, p.rows);
    for (size_t r = 0; r < p.rows; ++r) {
      const uint16_t* row = p.w.data() + r * p.k;
      const float want = kernels::gemv_f16_f32_row_ref(row, p.x.data(), p.k);
      ASSERT_TRUE(test::meets_contract(kernels::gemv_f16_f32::kAccuracy, want, got[r]))
          << hwy::TargetName(HWY_TARGET) << " " << p.label << " row " << r;
      // The contract itself against the fp64 reference.
      double mag = 0;
      for (size_t i = 0; i < p.k; ++i) mag += std::fabs(double{fp16_to_fp32(row[i])} * p.x[i]);
      const double exact = vec_dot_f16_f32(row, p.x.data(), p.k);
      const double tol = (static_cast<double>(p.k) + 1.0) * std::ldexp(1.0, -24) * mag + 1e-30;
      ASSERT_LE(std::fabs(double{got[r]} - exact), tol) << p.label << " row " << r;
    }
  }
}

// Any split of the rows gives the same bits (the pool splits by rows_per_step
// steps, but the kernels must not depend on where a range starts).
void TestDenseRowRangesAgree() {
  constexpr size_t kRows = 40;  // more than two 16-row steps
  const auto q = test::make_q8_problem(kRows, 512, test::DenseCase::kRandom, 77);
  const auto f = test::make_f16_problem(kRows, 300, test::DenseCase::kRandom, 78);
  ASSERT_TRUE(test::row_splits_agree(kRows, {1, 3, 6, 10, 17, 20, 33},
                                     [&](float* y, size_t b, size_t e) { gemv_q8_0_q8_0(q.args(y), b, e); }))
      << hwy::TargetName(HWY_TARGET) << " q8_0";
  const auto q4 = test::make_q4_0_problem(kRows, 512, test::DenseCase::kRandom, 79);
  ASSERT_TRUE(test::row_splits_agree(kRows, {1, 3, 6, 10, 17, 20, 33},
                                     [&](float* y, size_t b, size_t e) { gemv_q4_0_q8_0(q4.args(y), b, e); }))
      << hwy::TargetName(HWY_TARGET) << " q4_0";
  ASSERT_TRUE(test::row_splits_agree(kRows, {1, 3, 6, 10, 17, 20, 33},
                                     [&](float* y, size_t b, size_t e) { gemv_f16_f32(f.args(y), b, e); }))
      << hwy::TargetName(HWY_TARGET) << " f16";
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::cpu {
HWY_BEFORE_TEST(GemvDenseTest);
HWY_EXPORT_AND_TEST_P(GemvDenseTest, TestQ8_0GemvMatchesVecDot);
HWY_EXPORT_AND_TEST_P(GemvDenseTest, TestQ4_0GemvMatchesVecDot);
HWY_EXPORT_AND_TEST_P(GemvDenseTest, TestF16GemvMatchesContract);
HWY_EXPORT_AND_TEST_P(GemvDenseTest, TestDenseRowRangesAgree);
}  // namespace trix::cpu
#endif
