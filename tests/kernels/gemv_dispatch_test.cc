// The generated dispatch front ends: dynamic (HWY_DYNAMIC_DISPATCH over all
// compiled targets) and static (this TU's target) meet the spec's accuracy
// contract against the reference.
#include <gtest/gtest.h>

#include "common/kernel_accuracy.h"
#include "kernels/gemv_test_data.h"
#include "trix/cpu/dispatch.h"
#include "trix/kernels/gemv_tq2_0_q8_k.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

namespace {

constexpr trix::kernels::Accuracy kContract = trix::kernels::gemv_tq2_0_q8_k::kAccuracy;  // the spec's

TEST(GemvDispatch, DynamicMatchesReference) {
  for (const auto& p : trix::test::gemv_problems()) {
    std::vector<float> want(p.rows), got(p.rows);
    trix::kernels::gemv_tq2_0_q8_k_ref(p.args(want.data()));
    trix::cpu::gemv_tq2_0_q8_k(p.args(got.data()));
    for (size_t r = 0; r < p.rows; ++r) ASSERT_TRUE(trix::test::meets_contract(kContract, want[r], got[r])) << p.label;
  }
}

}  // namespace

void run_static_dispatch(const trix::GemvArgs& args);  // gemv_static_dispatch.cc

TEST(GemvDispatch, StaticMatchesReference) {
  for (const auto& p : trix::test::gemv_problems()) {
    std::vector<float> want(p.rows), got(p.rows);
    trix::kernels::gemv_tq2_0_q8_k_ref(p.args(want.data()));
    run_static_dispatch(p.args(got.data()));
    for (size_t r = 0; r < p.rows; ++r) ASSERT_TRUE(trix::test::meets_contract(kContract, want[r], got[r])) << p.label;
  }
}
