// The Q8_0 x Q8_0 and F16 x F32 GEMV (generated gemv_q8_0_q8_0 and
// gemv_f16_f32) on every Highway target compiled in:
//  - Q8_0: trix::vec_dot_q8_0_q8_0 per row, under the spec's accuracy
//          contract (kernels::gemv_q8_0_q8_0::kAccuracy: bit-exact);
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
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/kernel_accuracy.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "trix/core/fp16.h"
#include "trix/cpu/kernels-inl.h"
#include "trix/formats/f16.h"
#include "trix/formats/q8_0.h"
#include "trix/kernels/gemv_f16_f32_ref.h"

#ifndef TRIX_GEMV_DENSE_TEST_DATA_
#define TRIX_GEMV_DENSE_TEST_DATA_
namespace trix::test {

inline bool same_float_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

enum class DenseCase { kRandom, kZero, kExtreme };

struct Q8Problem {
  std::string label;
  size_t rows, k;
  std::vector<BlockQ8_0> w, x;
  GemvArgs args(float* y) const {
    return {w.data(), (k / 32) * sizeof(BlockQ8_0), x.data(), k, y, rows};
  }
};

inline Q8Problem make_q8_problem(size_t rows, size_t k, DenseCase c, uint64_t seed) {
  Q8Problem p{"q8_0 rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                  std::to_string(static_cast<int>(c)),
              rows, k, std::vector<BlockQ8_0>(rows * k / 32), std::vector<BlockQ8_0>(k / 32)};
  std::mt19937_64 rng(seed);
  auto fill = [&](BlockQ8_0& b) {
    for (auto& q : b.qs) {
      q = c == DenseCase::kZero ? 0
          : c == DenseCase::kExtreme ? static_cast<int8_t>(rng() % 2 ? 127 : -128)
                                     : static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    }
    // Scales: random in [2^-10, 2), or f16 max for the extreme case.
    const float d = c == DenseCase::kExtreme ? 65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 11));
    b.d = fp32_to_fp16(d);
  };
  for (auto& b : p.w) fill(b);
  for (auto& b : p.x) fill(b);
  return p;
}

struct F16Problem {
  std::string label;
  size_t rows, k;
  std::vector<uint16_t> w;
  std::vector<float> x;
  GemvArgs args(float* y) const { return {w.data(), k * sizeof(uint16_t), x.data(), k, y, rows}; }
};

inline F16Problem make_f16_problem(size_t rows, size_t k, DenseCase c, uint64_t seed) {
  F16Problem p{"f16 rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                   std::to_string(static_cast<int>(c)),
               rows, k, std::vector<uint16_t>(rows * k), std::vector<float>(k)};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (size_t i = 0; i < p.w.size(); ++i) {
    float v = c == DenseCase::kZero ? 0.0f : nd(rng);
    if (c == DenseCase::kExtreme) v = (i % 3 == 0) ? 65504.0f : (i % 3 == 1 ? -6.0e-8f : 1.0e-5f);
    p.w[i] = fp32_to_fp16(v);
  }
  for (auto& v : p.x) v = c == DenseCase::kZero ? 0.0f : nd(rng) * (c == DenseCase::kExtreme ? 1e3f : 1.0f);
  return p;
}

inline const std::vector<Q8Problem>& q8_problems() {
  static const std::vector<Q8Problem> out = [] {
    std::vector<Q8Problem> v;
    uint64_t seed = 1;
    for (size_t k : {32u, 96u, 256u, 2560u}) {
      for (size_t rows : {1u, 3u, 5u, 17u}) v.push_back(make_q8_problem(rows, k, DenseCase::kRandom, seed++));
    }
    v.push_back(make_q8_problem(7, 13824, DenseCase::kRandom, seed++));
    v.push_back(make_q8_problem(5, 256, DenseCase::kZero, seed++));
    v.push_back(make_q8_problem(6, 512, DenseCase::kExtreme, seed++));
    // Several 16-row steps (the AVX3_DL kernel's rows-in-lanes path) plus
    // a tail, with extreme values (-128 weights and activations).
    v.push_back(make_q8_problem(37, 2560, DenseCase::kRandom, seed++));
    v.push_back(make_q8_problem(16, 256, DenseCase::kZero, seed++));
    v.push_back(make_q8_problem(35, 512, DenseCase::kExtreme, seed++));
    return v;
  }();
  return out;
}

inline const std::vector<F16Problem>& f16_problems() {
  static const std::vector<F16Problem> out = [] {
    std::vector<F16Problem> v;
    uint64_t seed = 50;
    for (size_t k : {1u, 7u, 16u, 33u, 256u, 2560u}) {
      for (size_t rows : {1u, 3u, 5u}) v.push_back(make_f16_problem(rows, k, DenseCase::kRandom, seed++));
    }
    v.push_back(make_f16_problem(4, 13824, DenseCase::kRandom, seed++));
    v.push_back(make_f16_problem(3, 100, DenseCase::kZero, seed++));
    v.push_back(make_f16_problem(3, 77, DenseCase::kExtreme, seed++));
    return v;
  }();
  return out;
}

}  // namespace trix::test
#endif

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

void TestQ8_0GemvMatchesVecDot() {
  for (const auto& p : test::q8_problems()) {
    std::vector<float> got(p.rows, -1.0f);
    gemv_q8_0_q8_0(p.args(got.data()), 0, p.rows);
    for (size_t r = 0; r < p.rows; ++r) {
      const float want = vec_dot_q8_0_q8_0(p.w.data() + r * (p.k / 32), p.x.data(), p.k);
      ASSERT_TRUE(test::meets_contract(kernels::gemv_q8_0_q8_0::kAccuracy, want, got[r]))
          << hwy::TargetName(HWY_TARGET) << " " << p.label << " row " << r;
    }
  }
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
  std::vector<float> whole(kRows), parts(kRows);
  for (int which = 0; which < 2; ++which) {
    auto run = [&](float* y, size_t b, size_t e) {
      if (which == 0) {
        gemv_q8_0_q8_0(q.args(y), b, e);
      } else {
        gemv_f16_f32(f.args(y), b, e);
      }
    };
    run(whole.data(), 0, kRows);
    for (size_t split : {1u, 3u, 6u, 10u, 17u, 20u, 33u}) {
      run(parts.data(), 0, split);
      run(parts.data(), split, kRows);
      for (size_t r = 0; r < kRows; ++r) ASSERT_TRUE(test::same_float_bits(whole[r], parts[r])) << which << " " << split;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::cpu {
HWY_BEFORE_TEST(GemvDenseTest);
HWY_EXPORT_AND_TEST_P(GemvDenseTest, TestQ8_0GemvMatchesVecDot);
HWY_EXPORT_AND_TEST_P(GemvDenseTest, TestF16GemvMatchesContract);
HWY_EXPORT_AND_TEST_P(GemvDenseTest, TestDenseRowRangesAgree);
}  // namespace trix::cpu
#endif
