// The Q6_K x Q8_K, Q4_K x Q8_K and Q5_K x Q8_K GEMV (generated
// gemv_q6_k_q8_k, gemv_q4_k_q8_k, gemv_q5_k_q8_k; Q4_K and Q5_K tested the
// same way as Q6_K below, extremes with codes 0 and 15 / 31) on every Highway target
// compiled in: the "q6k lanes16" reference trix::kernels::gemv_q6_k_q8_k_row_ref
// per row under the spec's accuracy contract (kAccuracy: bit-exact), over random blocks, all-zero
// blocks, extreme codes / scales / activations (u = 0 or 63, sc = -128 or
// 127, qs = -128 or 127), odd row counts and any row split. The contract
// itself is checked against trix::vec_dot_q6_k_q8_k: the 16 lane sums of a
// block add up to that reference's exact integer block sum, and the float
// results agree within the stated rounding bound.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/gemv_kquant_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "common/gemv_checks.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/gemv_kquant_test_data.h"
#include "trix/core/fp16.h"
#include "trix/cpu/kernels-inl.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q5_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_k.h"
#include "trix/kernels/gemv_q4_k_q8_k_ref.h"
#include "trix/kernels/gemv_q5_k_q8_k_ref.h"
#include "trix/kernels/gemv_q6_k_q8_k_ref.h"

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

void TestQ6KGemvMatchesContract() {
  ASSERT_TRUE(test::rows_meet_contract(kernels::gemv_q6_k_q8_k::kAccuracy, test::q6_problems(), gemv_q6_k_q8_k,
                                       kernels::gemv_q6_k_q8_k_row_ref))
      << hwy::TargetName(HWY_TARGET);
}

// The contract's lanes split vec_dot_q6_k_q8_k's exact block sum, and the
// float results differ only by rounding: per block |d| * sum_l |s_l| summed
// (it bounds every partial sum of either order), times 2^-24 per rounding
// on a path (conversion, d_w * d_a, nb accumulations, 4 combine steps).
void TestQ6KContractAgreesWithVecDot() {
  if (HWY_TARGET != HWY_STATIC_TARGET) return;  // target-independent: once
  for (const auto& p : test::q6_problems()) {
    for (size_t r = 0; r < p.rows; ++r) {
      const BlockQ6_K* row = p.w.data() + r * (p.k / 256);
      double mag = 0;
      for (size_t b = 0; b < p.k / 256; ++b) {
        int32_t lanes[16];
        kernels::gemv_q6_k_q8_k_block_lanes(row[b], p.x[b], lanes);
        int64_t lane_total = 0;
        double lane_mag = 0;
        for (int32_t s : lanes) {
          lane_total += s;
          lane_mag += std::fabs(static_cast<double>(s));
        }
        int64_t want = 0;
        for (size_t e = 0; e < 256; ++e) {
          want += int64_t{row[b].scales[e / 16]} * trix::detail::q6_k_code(row[b], e) * p.x[b].qs[e];
        }
        ASSERT_EQ(lane_total, want) << p.label << " row " << r << " block " << b;
        mag += lane_mag * std::fabs(double{fp16_to_fp32(row[b].d)} * p.x[b].d);
      }
      const double tol = (static_cast<double>(p.k / 256) + 6.0) * 3.0 * std::ldexp(1.0, -24) * mag + 1e-30;
      const float ref = kernels::gemv_q6_k_q8_k_row_ref(row, p.x.data(), p.k);
      const float vd = vec_dot_q6_k_q8_k(row, p.x.data(), p.k);
      ASSERT_LE(std::fabs(double{ref} - double{vd}), tol) << p.label << " row " << r;
    }
  }
}

// Any split of the rows gives the same bits.
void TestQ6KRowRangesAgree() {
  const auto q = test::make_q6_problem(11, 512, test::KCase::kRandom, 77);
  ASSERT_TRUE(test::row_splits_agree(q.rows, {1, 4, 10},
                                     [&](float* y, size_t b, size_t e) { gemv_q6_k_q8_k(q.args(y), b, e); }))
      << hwy::TargetName(HWY_TARGET);
}

// Q4_K and Q5_K (the same lanes contract with 4- or 5-bit codes): each
// kernel against its lanes16 reference, bit for bit, and any row split.
template <class Block, class Gemv, class RowRef>
void CheckK4Gemv(const kernels::Accuracy& contract, Gemv gemv, RowRef row_ref) {
  const auto& problems = test::k4_problems<Block>();
  ASSERT_TRUE(test::rows_meet_contract(contract, problems, gemv, row_ref)) << hwy::TargetName(HWY_TARGET);
  const auto& q = problems[5];  // 7 rows
  ASSERT_TRUE(test::row_splits_agree(q.rows, {2, 6}, [&](float* y, size_t b, size_t e) { gemv(q.args(y), b, e); }))
      << hwy::TargetName(HWY_TARGET);
}

void TestQ4KGemvMatchesContract() {
  CheckK4Gemv<BlockQ4_K>(kernels::gemv_q4_k_q8_k::kAccuracy,
                         [](const GemvArgs& a, size_t b, size_t e) { gemv_q4_k_q8_k(a, b, e); },
                         kernels::gemv_q4_k_q8_k_row_ref);
}

void TestQ5KGemvMatchesContract() {
  CheckK4Gemv<BlockQ5_K>(kernels::gemv_q5_k_q8_k::kAccuracy,
                         [](const GemvArgs& a, size_t b, size_t e) { gemv_q5_k_q8_k(a, b, e); },
                         kernels::gemv_q5_k_q8_k_row_ref);
}

// The lanes split vec_dot's exact integer sums; the floats agree within the
// rounding bound (as for Q6_K, with both sums' magnitudes). Code(blk, e):
// the format's code; BlockLanes, RowRef, VecDot: its contract functions.
template <class Block, class Code, class BlockLanes, class RowRef, class VecDot>
void CheckK4ContractAgreesWithVecDot(Code code, BlockLanes block_lanes, RowRef row_ref, VecDot vec_dot) {
  for (const auto& p : test::k4_problems<Block>()) {
    for (size_t r = 0; r < p.rows; ++r) {
      const Block* row = p.w.data() + r * (p.k / 256);
      double mag = 0;
      for (size_t b = 0; b < p.k / 256; ++b) {
        int32_t s[16], t[16];
        block_lanes(row[b], p.x[b], s, t);
        int64_t s_total = 0, t_total = 0;
        double s_mag = 0, t_mag = 0;
        for (size_t l = 0; l < 16; ++l) {
          s_total += s[l];
          t_total += t[l];
          s_mag += std::fabs(static_cast<double>(s[l]));
          t_mag += std::fabs(static_cast<double>(t[l]));
        }
        int64_t want_q = 0, want_m = 0;
        for (size_t e = 0; e < 256; ++e) {
          const auto sm = trix::detail::q4_k_scale_min(row[b].scales, e / 32);
          want_q += int64_t{sm.scale} * code(row[b], e) * p.x[b].qs[e];
          want_m += int64_t{sm.min} * p.x[b].qs[e];
        }
        ASSERT_EQ(s_total, want_q) << p.label << " row " << r << " block " << b;
        ASSERT_EQ(t_total, want_m) << p.label << " row " << r << " block " << b;
        mag += s_mag * std::fabs(double{fp16_to_fp32(row[b].d)} * p.x[b].d) +
               t_mag * std::fabs(double{fp16_to_fp32(row[b].dmin)} * p.x[b].d);
      }
      const double tol = (2.0 * static_cast<double>(p.k / 256) + 6.0) * 3.0 * std::ldexp(1.0, -24) * mag + 1e-30;
      const float ref = row_ref(row, p.x.data(), p.k);
      const float vd = vec_dot(row, p.x.data(), p.k);
      ASSERT_LE(std::fabs(double{ref} - double{vd}), tol) << p.label << " row " << r;
    }
  }
}

void TestQ4KContractAgreesWithVecDot() {
  if (HWY_TARGET != HWY_STATIC_TARGET) return;  // target-independent: once
  CheckK4ContractAgreesWithVecDot<BlockQ4_K>(trix::detail::q4_k_code, kernels::gemv_q4_k_q8_k_block_lanes,
                                             kernels::gemv_q4_k_q8_k_row_ref, vec_dot_q4_k_q8_k);
}

void TestQ5KContractAgreesWithVecDot() {
  if (HWY_TARGET != HWY_STATIC_TARGET) return;  // target-independent: once
  CheckK4ContractAgreesWithVecDot<BlockQ5_K>(trix::detail::q5_k_code, kernels::gemv_q5_k_q8_k_block_lanes,
                                             kernels::gemv_q5_k_q8_k_row_ref, vec_dot_q5_k_q8_k);
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::cpu {
HWY_BEFORE_TEST(GemvKQuantTest);
HWY_EXPORT_AND_TEST_P(GemvKQuantTest, TestQ6KGemvMatchesContract);
HWY_EXPORT_AND_TEST_P(GemvKQuantTest, TestQ6KContractAgreesWithVecDot);
HWY_EXPORT_AND_TEST_P(GemvKQuantTest, TestQ6KRowRangesAgree);
HWY_EXPORT_AND_TEST_P(GemvKQuantTest, TestQ4KGemvMatchesContract);
HWY_EXPORT_AND_TEST_P(GemvKQuantTest, TestQ4KContractAgreesWithVecDot);
HWY_EXPORT_AND_TEST_P(GemvKQuantTest, TestQ5KGemvMatchesContract);
HWY_EXPORT_AND_TEST_P(GemvKQuantTest, TestQ5KContractAgreesWithVecDot);
}  // namespace trix::cpu
#endif
