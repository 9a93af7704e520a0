// Small ops against straightforward fp64 references, and matvec/matmul per
// weight format against the formats' reference dot products.
//
// Tolerances (float ops vs the fp64 reference):
//   dot_f32, matvec F32/F16/BF16: |err| <= 1e-6 * sum_i |w_i x_i|
//   rmsnorm, swiglu, relu2: |err| <= 2e-6 * |ref| + 1e-7
//   rope: |err| <= 2e-6 * (|x0| + |x1|) of the pair (angles exact in double)
//   softmax: |err| <= 1e-6 (probabilities);  attention: |err| <= 1e-5
//   quantized matvec vs the same fp64 dot over dequantized weights: within
//   the activation-quantization error, |err| <= 0.02 * sum_i |w_i x_i|;
//   vs the formats' reference dot: bit-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "common/bits.h"
#include "trix/core/fp16.h"
#include "trix/core/thread_pool.h"
#include "trix/formats/f16.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"
#include "trix/kernels/gemv_q4_k_q8_k_ref.h"
#include "trix/kernels/gemv_q6_k_q8_k_ref.h"
#include "trix/runtime/matmul.h"

namespace {

using trix::FormatId;
using trix::WeightView;

std::vector<float> random_vec(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST(Ops, DotF32MatchesFp64) {
  for (int64_t n : {1, 7, 8, 9, 64, 301, 1024}) {
    const auto a = random_vec(static_cast<size_t>(n), 1), b = random_vec(static_cast<size_t>(n), 2);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i) {
      ref += double{a[static_cast<size_t>(i)]} * b[static_cast<size_t>(i)];
      mag += std::fabs(double{a[static_cast<size_t>(i)]} * b[static_cast<size_t>(i)]);
    }
    EXPECT_NEAR(trix::ref::dot_f32(a.data(), b.data(), n), ref, 1e-6 * mag) << n;
  }
}

TEST(Ops, RmsNormMatchesFp64) {
  for (int64_t n : {1, 5, 64, 172, 2560}) {
    const auto x = random_vec(static_cast<size_t>(n), 3, -4, 4);
    const auto w = random_vec(static_cast<size_t>(n), 4, 0.5, 1.5);
    std::vector<float> out(static_cast<size_t>(n));
    trix::ref::rmsnorm(x.data(), w.data(), out.data(), n, 1e-5f);
    double ss = 0;
    for (float v : x) ss += double{v} * v;
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
    for (int64_t i = 0; i < n; ++i) {
      const size_t k = static_cast<size_t>(i);
      const double ref = x[k] * scale * w[k];
      EXPECT_NEAR(out[k], ref, 2e-6 * std::fabs(ref) + 1e-7) << n << " " << i;
    }
    // In place gives the same bits.
    std::vector<float> inplace = x;
    trix::ref::rmsnorm(inplace.data(), w.data(), inplace.data(), n, 1e-5f);
    EXPECT_TRUE(trix::test::same_bits(inplace.data(), out.data(), out.size()));
  }
}

TEST(Ops, RopeBothStylesMatchFp64) {
  const int64_t heads = 3, hd = 16;
  for (auto style : {trix::RopeStyle::Adjacent, trix::RopeStyle::NeoxHalves}) {
    for (int64_t pos : {0, 1, 17, 4000}) {
      for (float theta : {10000.0f, 500000.0f}) {
        const auto x = random_vec(static_cast<size_t>(heads * hd), 5);
        std::vector<float> y = x;
        trix::ref::rope(y.data(), heads, hd, pos, theta, style);
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t i = 0; i < hd / 2; ++i) {
            const int64_t a = style == trix::RopeStyle::Adjacent ? 2 * i : i;
            const int64_t b = style == trix::RopeStyle::Adjacent ? 2 * i + 1 : i + hd / 2;
            const double ang = static_cast<double>(pos) / std::pow(double{theta}, 2.0 * i / hd);
            const double x0 = x[static_cast<size_t>(h * hd + a)], x1 = x[static_cast<size_t>(h * hd + b)];
            const double r0 = x0 * std::cos(ang) - x1 * std::sin(ang);
            const double r1 = x0 * std::sin(ang) + x1 * std::cos(ang);
            const double tol = 2e-6 * (std::fabs(x0) + std::fabs(x1));
            EXPECT_NEAR(y[static_cast<size_t>(h * hd + a)], r0, tol);
            EXPECT_NEAR(y[static_cast<size_t>(h * hd + b)], r1, tol);
          }
        }
      }
    }
  }
}

TEST(Ops, GatedActivationsMatchFp64) {
  const size_t n = 333;
  const auto g = random_vec(n, 6, -8, 8), u = random_vec(n, 7, -2, 2);
  std::vector<float> s = g, r = g;
  trix::ref::swiglu(s.data(), u.data(), static_cast<int64_t>(n));
  trix::ref::relu2_gate(r.data(), u.data(), static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    const double gs = g[i] / (1.0 + std::exp(-double{g[i]})) * u[i];
    const double gr = (g[i] > 0 ? double{g[i]} * g[i] : 0.0) * u[i];
    EXPECT_NEAR(s[i], gs, 2e-6 * std::fabs(gs) + 1e-7);
    EXPECT_NEAR(r[i], gr, 2e-6 * std::fabs(gr) + 1e-7);
  }
}

TEST(Ops, SoftmaxAndResidualAdd) {
  auto x = random_vec(100, 8, -30, 30);
  x[3] = 88.0f;  // exp(88) alone would nearly overflow float
  const auto orig = x;
  trix::ref::softmax(x.data(), 100);
  double mx = -1e30, sum = 0;
  for (float v : orig) mx = std::max(mx, double{v});
  for (float v : orig) sum += std::exp(double{v} - mx);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(x[i], std::exp(double{orig[i]} - mx) / sum, 1e-6);
  }
  std::vector<float> a = {1, 2, 3}, b = {0.5f, -2, 4};
  trix::ref::add_inplace(a.data(), b.data(), 3);
  EXPECT_EQ(a, (std::vector<float>{1.5f, 0, 7}));
}

TEST(Ops, AttentionHeadMatchesFp64ForF32AndF16Storage) {
  const int64_t hd = 8, n_pos = 13, stride = 24;  // 3 kv heads; use head 1
  const auto q = random_vec(static_cast<size_t>(hd), 9, -2, 2);
  const auto kf = random_vec(static_cast<size_t>(n_pos * stride), 10, -2, 2);
  const auto vf = random_vec(static_cast<size_t>(n_pos * stride), 11, -2, 2);
  std::vector<uint16_t> kh(kf.size()), vh(vf.size());
  for (size_t i = 0; i < kf.size(); ++i) {
    kh[i] = trix::fp32_to_fp16(kf[i]);
    vh[i] = trix::fp32_to_fp16(vf[i]);
  }
  const auto reference = [&](auto key_at, auto val_at) {
    std::vector<double> s(static_cast<size_t>(n_pos)), out(static_cast<size_t>(hd), 0.0);
    double mx = -1e300, sum = 0;
    for (int64_t p = 0; p < n_pos; ++p) {
      double d = 0;
      for (int64_t i = 0; i < hd; ++i) d += double{q[static_cast<size_t>(i)]} * key_at(p * stride + hd + i);
      s[static_cast<size_t>(p)] = d / std::sqrt(double(hd));
      mx = std::max(mx, s[static_cast<size_t>(p)]);
    }
    for (auto& v : s) sum += (v = std::exp(v - mx));
    for (int64_t p = 0; p < n_pos; ++p) {
      for (int64_t i = 0; i < hd; ++i) {
        out[static_cast<size_t>(i)] += s[static_cast<size_t>(p)] / sum * val_at(p * stride + hd + i);
      }
    }
    return out;
  };
  std::vector<float> scores(static_cast<size_t>(n_pos)), out(static_cast<size_t>(hd));
  trix::ref::attention_head(q.data(), kf.data() + hd, vf.data() + hd, n_pos, stride, hd, scores.data(),
                       out.data());
  auto ref = reference([&](int64_t i) { return double{kf[static_cast<size_t>(i)]}; },
                       [&](int64_t i) { return double{vf[static_cast<size_t>(i)]}; });
  for (int64_t i = 0; i < hd; ++i) EXPECT_NEAR(out[static_cast<size_t>(i)], ref[static_cast<size_t>(i)], 1e-5);
  trix::ref::attention_head(q.data(), kh.data() + hd, vh.data() + hd, n_pos, stride, hd, scores.data(),
                       out.data());
  ref = reference([&](int64_t i) { return double{trix::fp16_to_fp32(kh[static_cast<size_t>(i)])}; },
                  [&](int64_t i) { return double{trix::fp16_to_fp32(vh[static_cast<size_t>(i)])}; });
  for (int64_t i = 0; i < hd; ++i) EXPECT_NEAR(out[static_cast<size_t>(i)], ref[static_cast<size_t>(i)], 1e-5);
}

// ------------------------------------------------------------------ matvec

// A random rows x cols matrix in `format`, with its dequantized floats.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> dequant;  // rows * cols, the values the format holds (scale applied)
  WeightView view;
};

TestMatrix make_matrix(FormatId f, int64_t rows, int64_t cols, uint64_t seed) {
  TestMatrix m;
  const size_t R = static_cast<size_t>(rows), C = static_cast<size_t>(cols);
  auto src = random_vec(R * C, seed);
  m.view = WeightView{nullptr, f, rows, cols, 1.0f};
  m.dequant.resize(R * C);
  const auto per_row = [&](auto quantize, auto dequantize) {
    m.bytes.resize(static_cast<size_t>(m.view.row_bytes()) * R);
    for (size_t r = 0; r < R; ++r) {
      void* row = m.bytes.data() + r * static_cast<size_t>(m.view.row_bytes());
      quantize(src.data() + r * C, row, C);
      dequantize(row, m.dequant.data() + r * C, C);
    }
  };
  std::mt19937_64 rng(seed);
  switch (f) {
    case FormatId::F32:
      per_row([](const float* x, void* y, size_t n) { std::memcpy(y, x, n * 4); },
              [](const void* y, float* x, size_t n) { std::memcpy(x, y, n * 4); });
      break;
    case FormatId::F16:
      per_row([](const float* x, void* y, size_t n) { trix::quantize_row_f16(x, static_cast<uint16_t*>(y), n); },
              [](const void* y, float* x, size_t n) { trix::dequantize_row_f16(static_cast<const uint16_t*>(y), x, n); });
      break;
    case FormatId::BF16:
      per_row([](const float* x, void* y, size_t n) { trix::quantize_row_bf16(x, static_cast<uint16_t*>(y), n); },
              [](const void* y, float* x, size_t n) { trix::dequantize_row_bf16(static_cast<const uint16_t*>(y), x, n); });
      break;
    case FormatId::Q8_0:
      per_row([](const float* x, void* y, size_t n) { trix::quantize_row_q8_0(x, static_cast<trix::BlockQ8_0*>(y), n); },
              [](const void* y, float* x, size_t n) { trix::dequantize_row_q8_0(static_cast<const trix::BlockQ8_0*>(y), x, n); });
      break;
    case FormatId::TQ1_0:
      per_row([](const float* x, void* y, size_t n) { trix::quantize_row_tq1_0(x, static_cast<trix::BlockTQ1_0*>(y), n); },
              [](const void* y, float* x, size_t n) { trix::dequantize_row_tq1_0(static_cast<const trix::BlockTQ1_0*>(y), x, n); });
      break;
    case FormatId::TQ2_0:
      per_row([](const float* x, void* y, size_t n) { trix::quantize_row_tq2_0(x, static_cast<trix::BlockTQ2_0*>(y), n); },
              [](const void* y, float* x, size_t n) { trix::dequantize_row_tq2_0(static_cast<const trix::BlockTQ2_0*>(y), x, n); });
      break;
    case FormatId::Q4_K:
    case FormatId::Q6_K:
      // No quantizer for k-quants: random code bytes with sane f16 scales.
      per_row(
          [&](const float*, void* y, size_t n) {
            auto* b = static_cast<uint8_t*>(y);
            const size_t bytes = n / 256 * (f == FormatId::Q4_K ? 144 : 210);
            for (size_t i = 0; i < bytes; ++i) b[i] = static_cast<uint8_t>(rng());
            for (size_t blk = 0; blk < n / 256; ++blk) {
              if (f == FormatId::Q4_K) {
                auto& q = static_cast<trix::BlockQ4_K*>(y)[blk];
                q.d = trix::fp32_to_fp16(0.01f);
                q.dmin = trix::fp32_to_fp16(0.004f);
              } else {
                static_cast<trix::BlockQ6_K*>(y)[blk].d = trix::fp32_to_fp16(0.002f);
              }
            }
          },
          [&](const void* y, float* x, size_t n) {
            if (f == FormatId::Q4_K) {
              trix::dequantize_row_q4_k(static_cast<const trix::BlockQ4_K*>(y), x, n);
            } else {
              trix::dequantize_row_q6_k(static_cast<const trix::BlockQ6_K*>(y), x, n);
            }
          });
      break;
    case FormatId::I2_S: {
      m.bytes.resize(trix::i2_s_nbytes(R, C));
      trix::quantize_i2_s(src.data(), R, C, m.bytes.data());
      trix::dequantize_i2_s(m.bytes.data(), R, C, m.dequant.data());
      m.view.scale = trix::i2_s_scale(m.bytes.data(), R, C);
      break;
    }
    default:
      ADD_FAILURE() << "no test matrix for format " << trix::format_name(f);
  }
  m.view.data = m.bytes.data();
  return m;
}

// The formats' own reference dot of row r with token activations x (what
// matvec must reproduce bit for bit).
float reference_dot(const TestMatrix& m, int64_t r, const float* x) {
  const size_t n = static_cast<size_t>(m.view.cols);
  const void* row = m.view.row(r);
  std::vector<trix::BlockQ8_K> a8k(n / 256 + 1);
  std::vector<trix::BlockQ8_0> a80(n / 32 + 1);
  switch (m.view.format) {
    case FormatId::F32: return trix::ref::dot_f32(static_cast<const float*>(row), x, m.view.cols);
    case FormatId::Q8_0:
      trix::quantize_row_q8_0(x, a80.data(), n);
      return trix::vec_dot_q8_0_q8_0(static_cast<const trix::BlockQ8_0*>(row), a80.data(), n);
    case FormatId::TQ1_0:
      trix::quantize_row_q8_k(x, a8k.data(), n);
      return trix::vec_dot_tq1_0_q8_k(static_cast<const trix::BlockTQ1_0*>(row), a8k.data(), n);
    case FormatId::TQ2_0:
      trix::quantize_row_q8_k(x, a8k.data(), n);
      return trix::vec_dot_tq2_0_q8_k(static_cast<const trix::BlockTQ2_0*>(row), a8k.data(), n);
    case FormatId::Q4_K:
      trix::quantize_row_q8_k(x, a8k.data(), n);
      return trix::vec_dot_q4_k_q8_k(static_cast<const trix::BlockQ4_K*>(row), a8k.data(), n);
    case FormatId::Q6_K:
      trix::quantize_row_q8_k(x, a8k.data(), n);
      return trix::vec_dot_q6_k_q8_k(static_cast<const trix::BlockQ6_K*>(row), a8k.data(), n);
    case FormatId::I2_S: {
      std::vector<int8_t> q(n);
      const auto act = trix::quantize_row_i8_s(x, q.data(), n);
      return trix::vec_dot_i2_s_i8(static_cast<const uint8_t*>(row), 1.0f, q.data(), act.scale, n) *
             m.view.scale;
    }
    default: return NAN;  // F16/BF16: checked against fp64 only
  }
}

class MatvecFormat : public ::testing::TestWithParam<FormatId> {};

// matmul(y, pool) of n_tok tokens with 1, 2 and 3 threads: the same bits
// each time (kept in `first`), and matvec(t, y, pool) of each token alone
// the bits of that token's rows.
template <class Matmul, class Matvec>
void run_thread_invariant(int64_t rows, int64_t n_tok, std::vector<float>& first, Matmul matmul, Matvec matvec) {
  first.clear();
  for (size_t threads : {1, 2, 3}) {
    trix::ThreadPool pool(threads);
    std::vector<float> y(static_cast<size_t>(n_tok * rows));
    matmul(y.data(), pool);
    if (first.empty()) {
      first = y;
    } else {
      ASSERT_TRUE(trix::test::same_bits(first.data(), y.data(), y.size())) << "threads " << threads;
    }
    for (int64_t t = 0; t < n_tok; ++t) {
      std::vector<float> one(static_cast<size_t>(rows));
      matvec(t, one.data(), pool);
      ASSERT_TRUE(trix::test::same_bits(one.data(), y.data() + t * rows, one.size())) << "token " << t;
    }
  }
}

// got, row r of token activations xt, against the fp64 dot of the
// dequantized row: within 1e-6 of the sum of magnitudes for formats with
// float activations, 0.02 for those that quantize the activations.
void expect_near_fp64(const TestMatrix& m, int64_t r, const float* xt, float got, int64_t t) {
  const int64_t cols = m.view.cols;
  double exact = 0, mag = 0;
  for (int64_t c = 0; c < cols; ++c) {
    const double p = double{m.dequant[static_cast<size_t>(r * cols + c)]} * xt[c];
    exact += p;
    mag += std::fabs(p);
  }
  const FormatId f = m.view.format;
  const bool float_acts = f == FormatId::F32 || f == FormatId::F16 || f == FormatId::BF16;
  EXPECT_NEAR(got, exact, (float_acts ? 1e-6 : 0.02) * mag) << "row " << r << " token " << t;
}

TEST_P(MatvecFormat, MatchesReferenceDotAndFp64AndIsThreadInvariant) {
  const FormatId f = GetParam();
  const int64_t rows = 19, cols = 512, n_tok = 3;
  const TestMatrix m = make_matrix(f, rows, cols, 42);
  ASSERT_TRUE(trix::matvec_supported(f));
  const auto x = random_vec(static_cast<size_t>(n_tok * cols), 43, -3, 3);
  trix::ref::MatvecScratch scratch;
  std::vector<float> first;
  ASSERT_NO_FATAL_FAILURE(run_thread_invariant(
      rows, n_tok, first,
      [&](float* y, trix::ThreadPool& pool) { trix::ref::matmul(m.view, x.data(), n_tok, y, pool, scratch); },
      [&](int64_t t, float* y, trix::ThreadPool& pool) {
        trix::ref::matvec(m.view, x.data() + t * cols, y, pool, scratch);
      }));
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* xt = x.data() + t * cols;
    for (int64_t r = 0; r < rows; ++r) {
      const float got = first[static_cast<size_t>(t * rows + r)];
      const float ref = reference_dot(m, r, xt);
      if (!std::isnan(ref)) {
        EXPECT_EQ(got, ref) << "row " << r << " token " << t;
      }
      expect_near_fp64(m, r, xt, got, t);
    }
  }
}

TEST_P(MatvecFormat, EmbeddingRowEqualsDequantizedRow) {
  const FormatId f = GetParam();
  const TestMatrix m = make_matrix(f, 5, 256, 7);
  std::vector<float> row(256);
  for (int64_t r = 0; r < 5; ++r) {
    trix::embedding_row(m.view, r, row.data());
    for (size_t i = 0; i < 256; ++i) {
      ASSERT_EQ(row[i], m.dequant[static_cast<size_t>(r) * 256 + i]) << "row " << r << " elem " << i;
    }
  }
}

// The prepared (fast-kernel) path: thread-invariant, GEMM rows equal the
// per-token GEMV, within the same fp64 bound as the reference path; Q6_K
// and Q4_K (huge-page copies, Highway kernels) bit for bit their lanes16
// contracts.
TEST_P(MatvecFormat, PreparedPathIsThreadInvariantAndMatchesItsContract) {
  const FormatId f = GetParam();
  const int64_t rows = 21, cols = 512, n_tok = 3;
  const TestMatrix m = make_matrix(f, rows, cols, 44);
  const trix::PreparedWeight pw = trix::prepare_weight(m.view);
  EXPECT_EQ(pw.rows != nullptr, f == FormatId::Q6_K || f == FormatId::Q4_K);
  const auto x = random_vec(static_cast<size_t>(n_tok * cols), 45, -3, 3);
  trix::PreparedScratch scratch;
  std::vector<float> first;
  ASSERT_NO_FATAL_FAILURE(run_thread_invariant(
      rows, n_tok, first, [&](float* y, trix::ThreadPool& pool) { trix::matmul(pw, x.data(), n_tok, y, pool, scratch); },
      [&](int64_t t, float* y, trix::ThreadPool& pool) { trix::matvec(pw, x.data() + t * cols, y, pool, scratch); }));
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* xt = x.data() + t * cols;
    std::vector<trix::BlockQ8_K> a8k(static_cast<size_t>(cols) / 256);
    trix::quantize_row_q8_k(xt, a8k.data(), static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      const float got = first[static_cast<size_t>(t * rows + r)];
      if (f == FormatId::Q6_K || f == FormatId::Q4_K) {
        const float want =
            f == FormatId::Q6_K
                ? trix::kernels::gemv_q6_k_q8_k_row_ref(static_cast<const trix::BlockQ6_K*>(m.view.row(r)),
                                                        a8k.data(), static_cast<size_t>(cols))
                : trix::kernels::gemv_q4_k_q8_k_row_ref(static_cast<const trix::BlockQ4_K*>(m.view.row(r)),
                                                        a8k.data(), static_cast<size_t>(cols));
        ASSERT_TRUE(trix::test::same_bits(got, want)) << "row " << r << " token " << t;
      }
      expect_near_fp64(m, r, xt, got, t);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, MatvecFormat,
                         ::testing::Values(FormatId::F32, FormatId::F16, FormatId::BF16,
                                           FormatId::Q8_0, FormatId::TQ1_0, FormatId::TQ2_0,
                                           FormatId::I2_S, FormatId::Q4_K, FormatId::Q6_K),
                         [](const auto& info) { return std::string(trix::format_name(info.param)); });

TEST(Ops, WeightScaleMultipliesOutputs) {
  TestMatrix m = make_matrix(FormatId::F32, 4, 64, 3);
  const auto x = random_vec(64, 4);
  trix::ThreadPool pool(1);
  trix::ref::MatvecScratch scratch;
  std::vector<float> a(4), b(4);
  trix::ref::matvec(m.view, x.data(), a.data(), pool, scratch);
  m.view.scale = 0.5f;
  trix::ref::matvec(m.view, x.data(), b.data(), pool, scratch);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(b[i], a[i] * 0.5f);
}

}  // namespace
