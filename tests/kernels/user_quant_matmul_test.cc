// The quant types llama.cpp users' files hold (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
// Q3_K, Q5_K) in the runtime's matmul, read through the traits table only
// (quantizer, dequantizer, activation format, vec_dot), on both paths:
//  - reference (trix::ref::matmul): the format's vec_dot per (row, token),
//    bit for bit;
//  - prepared (trix::matmul over prepare_weight): the format's row GEMV
//    kernel where a kernel spec gives one (Q4_0: vec_dot_q4_0_q8_0's bits;
//    Q5_K: the q5k lanes16 reference's bits), else the reference path's
//    bits; identical for 1 and 3 threads.
// Both against an fp64 dot of the dequantized weights and the dequantized
// (quantized) activations, within the float-rounding bound
//   |y - dot64| <= (nb + 8) * 4 * 2^-24 * sum_i |a_i| (|w_i| + 3 max_block |w|)
// (nb blocks per row; the term 3 max_block |w| bounds the scale and min
// products each dequantized weight is rounded from).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/bits.h"
#include "trix/formats/traits.h"
#include "trix/kernels/gemv_q5_k_q8_k_ref.h"
#include "trix/runtime/matmul.h"

namespace {

using trix::FormatId;

struct Case {
  FormatId format;
  size_t rows, cols, n_tok;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(trix::format_traits(info.param.format).name) + "_" + std::to_string(info.param.rows) + "x" +
         std::to_string(info.param.cols) + "_t" + std::to_string(info.param.n_tok);
}

class UserQuantMatmul : public ::testing::TestWithParam<Case> {};

TEST_P(UserQuantMatmul, BothPathsMatchTheirContractsAndAnFp64Dot) {
  const Case c = GetParam();
  const trix::FormatTraits& wt = trix::format_traits(c.format);
  const trix::FormatTraits& at = trix::format_traits(wt.matmul_activations);
  ASSERT_NE(wt.quantize_row, nullptr);
  ASSERT_NE(wt.dequantize_row, nullptr);
  ASSERT_NE(wt.vec_dot, nullptr);
  ASSERT_NE(at.quantize_activations, nullptr);
  ASSERT_NE(at.dequantize_row, nullptr);
  const size_t R = c.rows, C = c.cols, N = c.n_tok;
  std::mt19937_64 rng(static_cast<uint64_t>(R * 131 + C + N) + static_cast<uint64_t>(c.format));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(R * C), x(N * C);
  for (auto& v : wf) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  if (C > 64) {
    for (size_t i = 0; i < C / 2; ++i) wf[i] = 0.0f;  // a sparse row: zero blocks / sub-blocks
  }

  trix::WeightView view{nullptr, c.format, static_cast<int64_t>(R), static_cast<int64_t>(C), 1.0f};
  const auto row_bytes = static_cast<size_t>(view.row_bytes());
  ASSERT_GT(row_bytes, 0u);
  std::vector<uint8_t> bytes(R * row_bytes);
  std::vector<float> wd(R * C);
  for (size_t r = 0; r < R; ++r) {
    wt.quantize_row(wf.data() + r * C, bytes.data() + r * row_bytes, C);
    wt.dequantize_row(bytes.data() + r * row_bytes, wd.data() + r * C, C);
  }
  view.data = bytes.data();

  trix::ThreadPool pool1(1), pool3(3);
  trix::ref::MatvecScratch ref_scratch;
  std::vector<float> y_ref(N * R), y1(N * R), y3(N * R);
  trix::ref::matmul(view, x.data(), static_cast<int64_t>(N), y_ref.data(), pool1, ref_scratch);
  const trix::PreparedWeight pw = trix::prepare_weight(view);
  trix::PreparedScratch s1, s3;
  trix::matmul(pw, x.data(), static_cast<int64_t>(N), y1.data(), pool1, s1);
  trix::matmul(pw, x.data(), static_cast<int64_t>(N), y3.data(), pool3, s3);

  const size_t act_bytes = static_cast<size_t>(trix::format_nbytes(at, C));
  std::vector<uint8_t> act(act_bytes);
  std::vector<float> xa(C);
  const size_t be = wt.block_elements;
  double worst = 0;  // largest |y - dot64| / bound seen
  for (size_t t = 0; t < N; ++t) {
    at.quantize_activations(x.data() + t * C, act.data(), C);
    at.dequantize_row(act.data(), xa.data(), C);
    for (size_t r = 0; r < R; ++r) {
      SCOPED_TRACE("token " + std::to_string(t) + " row " + std::to_string(r));
      const void* row = bytes.data() + r * row_bytes;
      const size_t i = t * R + r;
      // Reference path: the format's vec_dot, bit for bit.
      const float dot = wt.vec_dot(row, act.data(), C);
      ASSERT_TRUE(trix::test::same_bits(y_ref[i], dot)) << y_ref[i] << " vs vec_dot " << dot;
      // Prepared path: its kernel's contract.
      float want_fast = dot;
      if (c.format == FormatId::Q5_K) {
        want_fast = trix::kernels::gemv_q5_k_q8_k_row_ref(static_cast<const trix::BlockQ5_K*>(row),
                                                          reinterpret_cast<const trix::BlockQ8_K*>(act.data()), C);
      }
      ASSERT_TRUE(trix::test::same_bits(y1[i], want_fast)) << y1[i] << " vs " << want_fast;
      ASSERT_TRUE(trix::test::same_bits(y3[i], y1[i])) << "3 threads " << y3[i] << " vs 1 thread " << y1[i];
      // Both against fp64.
      double d64 = 0, mag = 0;
      for (size_t b = 0; b < C / be; ++b) {
        double block_max = 0;
        for (size_t k = b * be; k < (b + 1) * be; ++k) block_max = std::max(block_max, std::fabs(double{wd[r * C + k]}));
        for (size_t k = b * be; k < (b + 1) * be; ++k) {
          const double w = wd[r * C + k];
          d64 += w * double{xa[k]};
          mag += std::fabs(double{xa[k]}) * (std::fabs(w) + 3.0 * block_max);
        }
      }
      const double tol = (static_cast<double>(C / be) + 8.0) * 4.0 * std::ldexp(1.0, -24) * mag + 1e-30;
      for (float y : {y_ref[i], y1[i]}) {
        ASSERT_LE(std::fabs(double{y} - d64), tol) << y << " vs fp64 " << d64;
        worst = std::max(worst, std::fabs(double{y} - d64) / tol);
      }
    }
  }
  RecordProperty("worst_error_over_bound", std::to_string(worst));
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (FormatId f : {FormatId::Q4_0, FormatId::Q4_1, FormatId::Q5_0, FormatId::Q5_1, FormatId::Q2_K, FormatId::Q3_K,
                     FormatId::Q5_K}) {
    const size_t be = trix::format_traits(f).block_elements;
    v.push_back({f, 13, 2 * be, 3});
    v.push_back({f, 5, 2560, 1});
    v.push_back({f, 33, 512, 2});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Formats, UserQuantMatmul, ::testing::ValuesIn(cases()), case_name);

// The formats with a row GEMV kernel spec run it; the others keep the
// reference path (no packed form, no huge-page copy but Q5_K's).
TEST(UserQuantMatmul, RoutedByTheKernelTable) {
  for (FormatId f : {FormatId::Q4_0, FormatId::Q5_K}) {
    EXPECT_NE(trix::detail::row_gemv_kernel(f), nullptr) << trix::format_traits(f).name;
  }
  for (FormatId f : {FormatId::Q4_1, FormatId::Q5_0, FormatId::Q5_1, FormatId::Q2_K, FormatId::Q3_K}) {
    EXPECT_EQ(trix::detail::row_gemv_kernel(f), nullptr) << trix::format_traits(f).name;
  }
  EXPECT_EQ(trix::format_traits(FormatId::Q5_K).prepare, trix::Prepare::HugePageCopy);
}

}  // namespace
