// The Q6_K x Q8_K and Q4_K x Q8_K GEMV (generated gemv_q6_k_q8_k,
// gemv_q4_k_q8_k; Q4_K tested the same way as Q6_K below) on every Highway target
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
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/kernel_accuracy.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "trix/core/fp16.h"
#include "trix/cpu/kernels-inl.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_k.h"
#include "trix/kernels/gemv_q4_k_q8_k_ref.h"
#include "trix/kernels/gemv_q6_k_q8_k_ref.h"

#ifndef TRIX_GEMV_KQUANT_TEST_DATA_
#define TRIX_GEMV_KQUANT_TEST_DATA_
namespace trix::test {

inline bool same_float_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

enum class KCase { kRandom, kZero, kExtreme, kQuantized };

struct Q6Problem {
  std::string label;
  size_t rows, k;
  std::vector<BlockQ6_K> w;
  std::vector<BlockQ8_K> x;
  GemvArgs args(float* y) const { return {w.data(), (k / 256) * sizeof(BlockQ6_K), x.data(), k, y, rows}; }
};

inline Q6Problem make_q6_problem(size_t rows, size_t k, KCase c, uint64_t seed) {
  Q6Problem p{"q6_k rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                  std::to_string(static_cast<int>(c)),
              rows, k, std::vector<BlockQ6_K>(rows * k / 256), std::vector<BlockQ8_K>(k / 256)};
  std::mt19937_64 rng(seed);
  if (c == KCase::kQuantized) {  // what a model holds: real quantizer output
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f(rows * k);
    for (auto& v : f) v = nd(rng);
    quantize_row_q6_k(f.data(), p.w.data(), f.size());
    std::vector<float> a(k);
    for (auto& v : a) v = nd(rng) * 3.0f;
    quantize_row_q8_k(a.data(), p.x.data(), k);
    return p;
  }
  for (auto& b : p.w) {
    for (auto& v : b.ql) v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? (rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
    for (auto& v : b.qh) v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? (rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
    for (auto& v : b.scales) {
      v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? static_cast<int8_t>(rng() % 2 ? 127 : -128) : static_cast<int8_t>(rng());
    }
    b.d = fp32_to_fp16(c == KCase::kExtreme ? 65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12)));
  }
  for (auto& b : p.x) {
    for (auto& q : b.qs) {
      q = c == KCase::kZero ? 0 : c == KCase::kExtreme ? static_cast<int8_t>(rng() % 2 ? 127 : -128) : static_cast<int8_t>(rng());
    }
    for (size_t g = 0; g < 16; ++g) {
      int32_t s = 0;
      for (size_t i = 0; i < 16; ++i) s += b.qs[16 * g + i];
      b.bsums[g] = static_cast<int16_t>(s);
    }
    b.d = c == KCase::kExtreme ? 1.0e3f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 8));
  }
  return p;
}

inline const std::vector<Q6Problem>& q6_problems() {
  static const std::vector<Q6Problem> out = [] {
    std::vector<Q6Problem> v;
    uint64_t seed = 1;
    for (size_t k : {256u, 512u, 2560u}) {
      for (size_t rows : {1u, 3u, 7u}) v.push_back(make_q6_problem(rows, k, KCase::kRandom, seed++));
    }
    v.push_back(make_q6_problem(3, 6912 + 256, KCase::kRandom, seed++));
    v.push_back(make_q6_problem(2, 512, KCase::kZero, seed++));
    v.push_back(make_q6_problem(5, 1024, KCase::kExtreme, seed++));
    v.push_back(make_q6_problem(4, 2560, KCase::kQuantized, seed++));
    return v;
  }();
  return out;
}

struct Q4Problem {
  std::string label;
  size_t rows, k;
  std::vector<BlockQ4_K> w;
  std::vector<BlockQ8_K> x;
  GemvArgs args(float* y) const { return {w.data(), (k / 256) * sizeof(BlockQ4_K), x.data(), k, y, rows}; }
};

// Q4_K weights (random bytes, the real quantizer, or extremes: codes 0/15,
// scales and mins 0/63) with the activations of the Q6_K problem of the
// same case.
inline Q4Problem make_q4_problem(size_t rows, size_t k, KCase c, uint64_t seed) {
  Q4Problem p{"q4_k rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                  std::to_string(static_cast<int>(c)),
              rows, k, std::vector<BlockQ4_K>(rows * k / 256), make_q6_problem(1, k, c, seed + 1000).x};
  std::mt19937_64 rng(seed);
  if (c == KCase::kQuantized) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f(rows * k);
    for (auto& v : f) v = nd(rng);
    quantize_row_q4_k(f.data(), p.w.data(), f.size());
    return p;
  }
  for (auto& b : p.w) {
    for (auto& v : b.qs) v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? (rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
    for (auto& v : b.scales) v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? (rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
    b.d = fp32_to_fp16(c == KCase::kExtreme ? 65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12)));
    b.dmin = fp32_to_fp16(c == KCase::kExtreme ? -65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12)));
  }
  return p;
}

inline const std::vector<Q4Problem>& q4_problems() {
  static const std::vector<Q4Problem> out = [] {
    std::vector<Q4Problem> v;
    uint64_t seed = 500;
    for (size_t k : {256u, 512u, 2560u}) {
      for (size_t rows : {1u, 3u, 7u}) v.push_back(make_q4_problem(rows, k, KCase::kRandom, seed++));
    }
    v.push_back(make_q4_problem(2, 512, KCase::kZero, seed++));
    v.push_back(make_q4_problem(5, 1024, KCase::kExtreme, seed++));
    v.push_back(make_q4_problem(4, 2560, KCase::kQuantized, seed++));
    return v;
  }();
  return out;
}

}  // namespace trix::test
#endif

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

void TestQ6KGemvMatchesContract() {
  for (const auto& p : test::q6_problems()) {
    std::vector<float> got(p.rows, -1.0f);
    gemv_q6_k_q8_k(p.args(got.data()), 0, p.rows);
    for (size_t r = 0; r < p.rows; ++r) {
      const BlockQ6_K* row = p.w.data() + r * (p.k / 256);
      const float want = kernels::gemv_q6_k_q8_k_row_ref(row, p.x.data(), p.k);
      ASSERT_TRUE(test::meets_contract(kernels::gemv_q6_k_q8_k::kAccuracy, want, got[r]))
          << hwy::TargetName(HWY_TARGET) << " " << p.label << " row " << r;
    }
  }
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
  std::vector<float> whole(11), parts(11);
  gemv_q6_k_q8_k(q.args(whole.data()), 0, 11);
  for (size_t split : {1u, 4u, 10u}) {
    gemv_q6_k_q8_k(q.args(parts.data()), 0, split);
    gemv_q6_k_q8_k(q.args(parts.data()), split, 11);
    for (size_t r = 0; r < 11; ++r) ASSERT_TRUE(test::same_float_bits(whole[r], parts[r])) << split;
  }
}

void TestQ4KGemvMatchesContract() {
  for (const auto& p : test::q4_problems()) {
    std::vector<float> got(p.rows, -1.0f);
    gemv_q4_k_q8_k(p.args(got.data()), 0, p.rows);
    for (size_t r = 0; r < p.rows; ++r) {
      const BlockQ4_K* row = p.w.data() + r * (p.k / 256);
      const float want = kernels::gemv_q4_k_q8_k_row_ref(row, p.x.data(), p.k);
      ASSERT_TRUE(test::meets_contract(kernels::gemv_q4_k_q8_k::kAccuracy, want, got[r]))
          << hwy::TargetName(HWY_TARGET) << " " << p.label << " row " << r;
    }
  }
  // Any split of the rows gives the same bits.
  const auto& q = test::q4_problems()[5];  // 7 rows
  std::vector<float> whole(q.rows), parts(q.rows);
  gemv_q4_k_q8_k(q.args(whole.data()), 0, q.rows);
  gemv_q4_k_q8_k(q.args(parts.data()), 0, 2);
  gemv_q4_k_q8_k(q.args(parts.data()), 2, q.rows);
  for (size_t r = 0; r < q.rows; ++r) ASSERT_TRUE(test::same_float_bits(whole[r], parts[r])) << r;
}

// The lanes split vec_dot_q4_k_q8_k's exact integer sums; the floats agree
// within the rounding bound (as for Q6_K, with both sums' magnitudes).
void TestQ4KContractAgreesWithVecDot() {
  if (HWY_TARGET != HWY_STATIC_TARGET) return;  // target-independent: once
  for (const auto& p : test::q4_problems()) {
    for (size_t r = 0; r < p.rows; ++r) {
      const BlockQ4_K* row = p.w.data() + r * (p.k / 256);
      double mag = 0;
      for (size_t b = 0; b < p.k / 256; ++b) {
        int32_t s[16], t[16];
        kernels::gemv_q4_k_q8_k_block_lanes(row[b], p.x[b], s, t);
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
          want_q += int64_t{sm.scale} * trix::detail::q4_k_code(row[b], e) * p.x[b].qs[e];
          want_m += int64_t{sm.min} * p.x[b].qs[e];
        }
        ASSERT_EQ(s_total, want_q) << p.label << " row " << r << " block " << b;
        ASSERT_EQ(t_total, want_m) << p.label << " row " << r << " block " << b;
        mag += s_mag * std::fabs(double{fp16_to_fp32(row[b].d)} * p.x[b].d) +
               t_mag * std::fabs(double{fp16_to_fp32(row[b].dmin)} * p.x[b].d);
      }
      const double tol = (2.0 * static_cast<double>(p.k / 256) + 6.0) * 3.0 * std::ldexp(1.0, -24) * mag + 1e-30;
      const float ref = kernels::gemv_q4_k_q8_k_row_ref(row, p.x.data(), p.k);
      const float vd = vec_dot_q4_k_q8_k(row, p.x.data(), p.k);
      ASSERT_LE(std::fabs(double{ref} - double{vd}), tol) << p.label << " row " << r;
    }
  }
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
}  // namespace trix::cpu
#endif
