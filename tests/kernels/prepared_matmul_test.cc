// The prepared-weights path of the model runtime (trix::matmul over
// PreparedWeight, trix/runtime/matmul.h): TQ2_0 and TQ1_0 run the packed4
// kernels through the thread pool, I2_S (packed4), Q8_0 and F16 (rows as
// stored) theirs. Each result meets the accuracy contract that the spec of
// the kernel running it states (kAccuracy: today all bit-exact) against that
// kernel's reference (lanes16 for TQ2_0/TQ1_0/F16, vec_dot_i2_s_i8 and
// vec_dot_q8_0_q8_0, which are also the unprepared path's bits); results are
// identical for 1..4 threads, and a GEMM row equals the GEMV of its token
// (bit for bit: the runtime's determinism, whatever the contract), also
// across the row tiles of the row-GEMV batch path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "trix/kernels/gemm_packed_i2_s_i8_s.h"
#include "trix/kernels/gemm_packed_tq2_0_q8_k.h"
#include "trix/kernels/gemv_f16_f32.h"
#include "trix/kernels/gemv_f16_f32_ref.h"
#include "trix/kernels/gemv_packed_i2_s_i8_s.h"
#include "trix/kernels/gemv_packed_tq2_0_q8_k.h"
#include "trix/kernels/gemv_q8_0_q8_0.h"
#include "trix/kernels/gemv_tq1_0_q8_k_ref.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"
#include "trix/runtime/matmul.h"

namespace {

using trix::FormatId;

struct Case {
  FormatId format;
  int64_t rows, cols, n_tok;
};

// The contract of the kernel the runtime runs for `format` and n_tok tokens.
trix::kernels::Accuracy contract(FormatId format, int64_t n_tok) {
  namespace k = trix::kernels;
  switch (format) {
    case FormatId::TQ2_0:
    case FormatId::TQ1_0:
      return n_tok == 1 ? k::gemv_packed_tq2_0_q8_k::kAccuracy : k::gemm_packed_tq2_0_q8_k::kAccuracy;
    case FormatId::I2_S:
      return n_tok == 1 ? k::gemv_packed_i2_s_i8_s::kAccuracy : k::gemm_packed_i2_s_i8_s::kAccuracy;
    case FormatId::Q8_0: return k::gemv_q8_0_q8_0::kAccuracy;
    case FormatId::F16: return k::gemv_f16_f32::kAccuracy;
    default: ADD_FAILURE() << "no kernel contract for this format"; return {};
  }
}

class PreparedMatmul : public ::testing::TestWithParam<Case> {};

TEST_P(PreparedMatmul, MatchesLanes16ReferenceForAnyThreadCount) {
  const Case c = GetParam();
  const auto R = static_cast<size_t>(c.rows), C = static_cast<size_t>(c.cols), N = static_cast<size_t>(c.n_tok);
  std::mt19937_64 rng(static_cast<uint64_t>(c.rows * 131 + c.cols + c.n_tok));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(R * C), x(N * C);
  for (auto& v : wf) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  trix::WeightView view{nullptr, c.format, c.rows, c.cols, 0.75f};
  const size_t row_bytes = static_cast<size_t>(view.row_bytes());
  std::vector<uint8_t> bytes(c.format == FormatId::I2_S ? trix::i2_s_nbytes(R, C) : R * row_bytes);
  for (size_t r = 0; r < R; ++r) {
    uint8_t* dst = bytes.data() + r * row_bytes;
    const float* src = wf.data() + r * C;
    switch (c.format) {
      case FormatId::TQ2_0: trix::quantize_row_tq2_0(src, reinterpret_cast<trix::BlockTQ2_0*>(dst), C); break;
      case FormatId::TQ1_0: trix::quantize_row_tq1_0(src, reinterpret_cast<trix::BlockTQ1_0*>(dst), C); break;
      case FormatId::Q8_0: trix::quantize_row_q8_0(src, reinterpret_cast<trix::BlockQ8_0*>(dst), C); break;
      case FormatId::F16: trix::quantize_row_f16(src, reinterpret_cast<uint16_t*>(dst), C); break;
      default: break;
    }
  }
  if (c.format == FormatId::I2_S) {
    trix::quantize_i2_s(wf.data(), R, C, bytes.data());
    view.scale = trix::i2_s_scale(bytes.data(), R, C);  // as the loader keeps it
  }
  view.data = bytes.data();
  const trix::PreparedWeight w = trix::prepare_weight(view);
  const bool packs = c.format == FormatId::TQ2_0 || c.format == FormatId::TQ1_0 || c.format == FormatId::I2_S;
  ASSERT_EQ(static_cast<bool>(w.packed), packs);

  // Reference: per token, the format's activation quantizer and row reference.
  std::vector<float> want(N * R);
  std::vector<double> magnitude(N * R, 0.0);  // sum |w x| for a tolerance contract
  for (size_t t = 0; t < N; ++t) {
    for (size_t r = 0; r < R; ++r) {
      for (size_t k = 0; k < C; ++k) magnitude[t * R + r] += std::fabs(double{wf[r * C + k]} * x[t * C + k]);
    }
  }
  std::vector<trix::BlockQ8_K> q(C / 256);
  std::vector<trix::BlockQ8_0> q8(C / 32);
  std::vector<int8_t> qi(C);
  for (size_t t = 0; t < N; ++t) {
    const float* xt = x.data() + t * C;
    float act_scale = 0;
    if (c.format == FormatId::TQ2_0 || c.format == FormatId::TQ1_0) trix::quantize_row_q8_k(xt, q.data(), C);
    if (c.format == FormatId::Q8_0) trix::quantize_row_q8_0(xt, q8.data(), C);
    if (c.format == FormatId::I2_S) act_scale = trix::quantize_row_i8_s(xt, qi.data(), C).scale;
    for (size_t r = 0; r < R; ++r) {
      const void* row = bytes.data() + r * row_bytes;
      float v = 0;
      switch (c.format) {
        case FormatId::TQ2_0:
          v = trix::kernels::gemv_tq2_0_q8_k_row_ref(static_cast<const trix::BlockTQ2_0*>(row), q.data(), C);
          break;
        case FormatId::TQ1_0:
          v = trix::kernels::gemv_tq1_0_q8_k_row_ref(static_cast<const trix::BlockTQ1_0*>(row), q.data(), C);
          break;
        case FormatId::I2_S:
          v = trix::vec_dot_i2_s_i8(static_cast<const uint8_t*>(row), 1.0f, qi.data(), act_scale, C);
          break;
        case FormatId::Q8_0:
          v = trix::vec_dot_q8_0_q8_0(static_cast<const trix::BlockQ8_0*>(row), q8.data(), C);
          break;
        case FormatId::F16:
          v = trix::kernels::gemv_f16_f32_row_ref(static_cast<const uint16_t*>(row), xt, C);
          break;
        default: break;
      }
      want[t * R + r] = v * view.scale;
    }
  }
  if (c.format == FormatId::I2_S || c.format == FormatId::Q8_0) {
    // These keep the unprepared path's bits too.
    trix::ThreadPool pool(2);
    trix::ref::MatvecScratch ms;
    std::vector<float> ref(N * R);
    trix::ref::matmul(view, x.data(), c.n_tok, ref.data(), pool, ms);
    ASSERT_EQ(std::memcmp(ref.data(), want.data(), ref.size() * 4), 0);
  }
  trix::PreparedScratch scratch;
  for (size_t threads : {1u, 2u, 3u, 4u}) {
    trix::ThreadPool pool(threads);
    std::vector<float> y(N * R, -1.0f);
    trix::matmul(w, x.data(), c.n_tok, y.data(), pool, scratch);
    const trix::kernels::Accuracy acc = contract(c.format, c.n_tok);
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_TRUE(acc.accepts(want[i], y[i], magnitude[i] * std::fabs(double{view.scale})))
          << "threads " << threads << " element " << i << ": " << y[i] << " vs " << want[i];
    }
    std::vector<float> one(R);
    for (size_t t = 0; t < N; t += (N > 8 ? 37 : 1)) {
      trix::matvec(w, x.data() + t * C, one.data(), pool, scratch);
      ASSERT_EQ(std::memcmp(one.data(), y.data() + t * R, R * 4), 0) << "threads " << threads << " token " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PreparedMatmul,
                         ::testing::Values(Case{FormatId::TQ2_0, 37, 512, 1}, Case{FormatId::TQ2_0, 19, 2560, 3},
                                           Case{FormatId::TQ2_0, 13, 256, 64}, Case{FormatId::TQ1_0, 23, 768, 7},
                                           Case{FormatId::TQ1_0, 5, 256, 1}, Case{FormatId::I2_S, 21, 384, 1},
                                           Case{FormatId::I2_S, 9, 2560, 5}, Case{FormatId::Q8_0, 23, 512, 1},
                                           Case{FormatId::Q8_0, 6, 2560, 3}, Case{FormatId::F16, 19, 300, 1},
                                           Case{FormatId::F16, 7, 2560, 4},
                                           // Many row tiles of the row-GEMV batch path (row_gemv_matmul:
                                           // about 128 KiB of rows per tile, every token per tile).
                                           Case{FormatId::Q8_0, 1100, 2560, 3}, Case{FormatId::F16, 150, 2560, 4}));

TEST(PreparedMatmul, FormatsWithoutPackedFormKeepTheReferencePath) {
  std::vector<float> w(4 * 64), x(64), a(4), b(4);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) - 3.0f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) * 0.25f;
  const trix::WeightView view{w.data(), FormatId::F32, 4, 64, 1.0f};  // no fast kernel for F32
  const trix::PreparedWeight p = trix::prepare_weight(view);
  EXPECT_FALSE(p.packed);
  trix::ThreadPool pool(2);
  trix::PreparedScratch ps;
  trix::ref::MatvecScratch ms;
  trix::matvec(p, x.data(), a.data(), pool, ps);
  trix::ref::matvec(view, x.data(), b.data(), pool, ms);
  EXPECT_EQ(a, b);
}

}  // namespace
