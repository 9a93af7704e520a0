// Dot products: the integer part of every contract is exact (checked against
// an int64 sum over the decoded codes, and the float steps of the contract
// re-done here must give the same bits); the float result is within a stated
// tolerance of an fp64 dot of the dequantized rows; and the golden dots of
// ../shared/testdata/ggml-golden/manifest.json agree within tolerance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "common/bits.h"
#include "formats/golden.h"
#include "formats/inputs.h"
#include "trix/formats/f16.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"

namespace trix::test {
namespace {

// Per-block terms of a contract: the exact integer sums and the float scales
// they are multiplied with, in the order the contract applies them.
struct Term {
  int64_t isum;
  float scale;
};

// Replays "acc = fma(float(isum), scale, acc)" over the terms, and returns
// the fp64 value and the sum of |terms| that bounds the float error.
struct Replay {
  float contract;
  double exact;
  double magnitude;
};
Replay replay(const std::vector<Term>& terms) {
  Replay r{0.0f, 0.0, 0.0};
  for (const Term& t : terms) {
    EXPECT_LE(std::llabs(t.isum), int64_t{INT32_MAX});
    r.contract = std::fma(static_cast<float>(t.isum), t.scale, r.contract);
    r.exact += static_cast<double>(t.isum) * t.scale;
    r.magnitude += std::fabs(static_cast<double>(t.isum) * t.scale);
  }
  return r;
}

// fp64 dot of two dequantized rows, and the float-error tolerance of a
// contract with `nterms` fma steps: every step rounds once (2^-24 of the
// running magnitude), the scale products and float(isum) once more.
double dot64(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += double{a[i]} * double{b[i]};
  return s;
}
double tolerance(size_t nterms, double magnitude) { return (nterms + 3) * 0x1p-23 * magnitude + 1e-30; }

std::vector<BlockQ8_K> q8_k_row(size_t n, uint64_t seed) {
  const std::vector<float> x = uniform_floats(n, seed, 2.5f);
  std::vector<BlockQ8_K> a(n / 256);
  quantize_row_q8_k(x.data(), a.data(), n);
  return a;
}
std::vector<float> dequant_q8_k(const std::vector<BlockQ8_K>& a) {
  std::vector<float> y(a.size() * 256);
  dequantize_row_q8_k(a.data(), y.data(), y.size());
  return y;
}

constexpr size_t kN = 7 * 256;  // odd block count

// The contract's terms of a ternary row (TQ2_0, TQ1_0) against Q8_K: per
// block the exact sum of code * q, the codes read back from the dequantized
// weights wf, and d_w * d_a.
template <class Block>
std::vector<Term> ternary_terms(const std::vector<Block>& w, const std::vector<float>& wf,
                                const std::vector<BlockQ8_K>& a) {
  std::vector<Term> terms;
  for (size_t b = 0; b < w.size(); ++b) {
    int64_t s = 0;
    for (size_t i = 0; i < 256; ++i) {
      s += static_cast<int64_t>(std::lround(wf[b * 256 + i] / fp16_to_fp32(w[b].d))) * a[b].qs[i];
    }
    terms.push_back({s, fp16_to_fp32(w[b].d) * a[b].d});
  }
  return terms;
}

TEST(FormatsDots, TQ2_0xQ8_K) {
  std::vector<BlockTQ2_0> w(kN / 256);
  quantize_row_tq2_0(uniform_floats(kN, 1).data(), w.data(), kN);
  w[2].qs[5] = 0xFF;  // code 3 decodes to +2: the integer sum must still be exact
  const std::vector<BlockQ8_K> a = q8_k_row(kN, 2);
  std::vector<float> wf(kN);
  dequantize_row_tq2_0(w.data(), wf.data(), kN);
  const std::vector<float> af = dequant_q8_k(a);
  const std::vector<Term> terms = ternary_terms(w, wf, a);
  const Replay r = replay(terms);
  const float got = vec_dot_tq2_0_q8_k(w.data(), a.data(), kN);
  EXPECT_TRUE(same_bits(got, r.contract)) << got << " vs " << r.contract;
  EXPECT_NEAR(got, dot64(wf, af), tolerance(terms.size(), r.magnitude));
}

TEST(FormatsDots, TQ1_0xQ8_K) {
  std::vector<BlockTQ1_0> w(kN / 256);
  quantize_row_tq1_0(uniform_floats(kN, 3).data(), w.data(), kN);
  const std::vector<BlockQ8_K> a = q8_k_row(kN, 4);
  std::vector<float> wf(kN);
  dequantize_row_tq1_0(w.data(), wf.data(), kN);
  const std::vector<Term> terms = ternary_terms(w, wf, a);
  const Replay r = replay(terms);
  const float got = vec_dot_tq1_0_q8_k(w.data(), a.data(), kN);
  EXPECT_TRUE(same_bits(got, r.contract)) << got << " vs " << r.contract;
  EXPECT_NEAR(got, dot64(wf, dequant_q8_k(a)), tolerance(terms.size(), r.magnitude));
}

TEST(FormatsDots, Q8_0xQ8_0) {
  const size_t n = 41 * 32;
  std::vector<BlockQ8_0> w(n / 32), a(n / 32);
  quantize_row_q8_0(uniform_floats(n, 5, 3.0f).data(), w.data(), n);
  quantize_row_q8_0(uniform_floats(n, 6, 0.2f).data(), a.data(), n);
  w[0].qs[0] = -128;  // extreme codes: the sum stays exact
  a[0].qs[0] = -128;
  std::vector<float> wf(n), af(n);
  dequantize_row_q8_0(w.data(), wf.data(), n);
  dequantize_row_q8_0(a.data(), af.data(), n);
  std::vector<Term> terms;
  for (size_t b = 0; b < w.size(); ++b) {
    int64_t s = 0;
    for (size_t i = 0; i < 32; ++i) s += int64_t{w[b].qs[i]} * int64_t{a[b].qs[i]};
    terms.push_back({s, fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d)});
  }
  const Replay r = replay(terms);
  const float got = vec_dot_q8_0_q8_0(w.data(), a.data(), n);
  EXPECT_TRUE(same_bits(got, r.contract));
  EXPECT_NEAR(got, dot64(wf, af), tolerance(terms.size(), r.magnitude));
}

// K-quants from random bytes (any byte pattern is a valid block) with sane
// f16 scales; the worst-case integer ranges are covered by saturating blocks.
TEST(FormatsDots, Q4_KxQ8_K) {
  Lcg rng(7);
  std::vector<BlockQ4_K> w(kN / 256);
  for (auto& blk : w) {
    for (auto& v : blk.scales) v = rng.byte();
    for (auto& v : blk.qs) v = rng.byte();
    blk.d = random_f16_scale(rng);
    blk.dmin = random_f16_scale(rng);
  }
  std::memset(w[1].scales, 0xFF, sizeof w[1].scales);  // every scale and min 63
  std::memset(w[1].qs, 0xFF, sizeof w[1].qs);          // every code 15
  std::vector<BlockQ8_K> a = q8_k_row(kN, 8);
  for (auto& q : a[1].qs) q = 127;  // |isum_q| near its 2^25 bound: float(isum) rounds
  std::vector<float> wf(kN);
  dequantize_row_q4_k(w.data(), wf.data(), kN);
  std::vector<Term> terms;
  for (size_t b = 0; b < w.size(); ++b) {
    int64_t sq = 0, sm = 0;
    for (size_t s = 0; s < 8; ++s) {
      const auto sc = trix::detail::q4_k_scale_min(w[b].scales, s);
      for (size_t i = 32 * s; i < 32 * s + 32; ++i) {
        sq += int64_t{sc.scale} * trix::detail::q4_k_code(w[b], i) * a[b].qs[i];
        sm += int64_t{sc.min} * a[b].qs[i];
      }
    }
    terms.push_back({sq, fp16_to_fp32(w[b].d) * a[b].d});
    terms.push_back({-sm, fp16_to_fp32(w[b].dmin) * a[b].d});
  }
  const Replay r = replay(terms);
  const float got = vec_dot_q4_k_q8_k(w.data(), a.data(), kN);
  EXPECT_TRUE(same_bits(got, r.contract));
  EXPECT_NEAR(got, dot64(wf, dequant_q8_k(a)), tolerance(terms.size(), r.magnitude) * 4);
}

TEST(FormatsDots, Q6_KxQ8_K) {
  Lcg rng(9);
  std::vector<BlockQ6_K> w(kN / 256);
  for (auto& blk : w) {
    for (auto& v : blk.ql) v = rng.byte();
    for (auto& v : blk.qh) v = rng.byte();
    for (auto& v : blk.scales) v = static_cast<int8_t>(rng.byte());
    blk.d = random_f16_scale(rng);
  }
  std::memset(w[3].ql, 0, sizeof w[3].ql);  // every code -32
  std::memset(w[3].qh, 0, sizeof w[3].qh);
  for (auto& s : w[3].scales) s = -128;
  std::vector<BlockQ8_K> a = q8_k_row(kN, 10);
  for (auto& q : a[3].qs) q = -128;  // |isum| = 2^27, its bound
  std::vector<float> wf(kN);
  dequantize_row_q6_k(w.data(), wf.data(), kN);
  std::vector<Term> terms;
  for (size_t b = 0; b < w.size(); ++b) {
    int64_t s = 0;
    for (size_t i = 0; i < 256; ++i) s += int64_t{w[b].scales[i / 16]} * trix::detail::q6_k_code(w[b], i) * a[b].qs[i];
    terms.push_back({s, fp16_to_fp32(w[b].d) * a[b].d});
  }
  EXPECT_EQ(terms[3].isum, -(int64_t{1} << 27));
  const Replay r = replay(terms);
  const float got = vec_dot_q6_k_q8_k(w.data(), a.data(), kN);
  EXPECT_TRUE(same_bits(got, r.contract));
  EXPECT_NEAR(got, dot64(wf, dequant_q8_k(a)), tolerance(terms.size(), r.magnitude) * 4);
}

TEST(FormatsDots, I2_SxI8) {
  const size_t rows = 3, cols = 640;
  const std::vector<float> wx = uniform_floats(rows * cols, 11, 0.02f);
  std::vector<uint8_t> w(i2_s_nbytes(rows, cols));
  quantize_i2_s(wx.data(), rows, cols, w.data());
  const float w_scale = i2_s_scale(w.data(), rows, cols);
  const std::vector<float> x = uniform_floats(cols, 12, 9.0f);
  std::vector<int8_t> q(cols);
  const I8Activation act = quantize_row_i8_s(x.data(), q.data(), cols);
  int32_t qsum = 0;
  for (const int8_t v : q) qsum += v;
  EXPECT_EQ(act.sum, qsum);
  std::vector<float> wf(rows * cols);
  dequantize_i2_s(w.data(), rows, cols, wf.data());
  for (size_t r = 0; r < rows; ++r) {
    int64_t isum = 0;
    double exact = 0.0, magnitude = 0.0;
    for (size_t i = 0; i < cols; ++i) {
      const float wv = wf[r * cols + i];
      isum += static_cast<int64_t>(std::lround(wv / w_scale)) * q[i];
      exact += double{wv} * (q[i] / double{act.scale});
      magnitude += std::fabs(double{wv} * (q[i] / double{act.scale}));
    }
    const float got = vec_dot_i2_s_i8(w.data() + r * cols / 4, w_scale, q.data(), act.scale, cols);
    EXPECT_TRUE(same_bits(got, static_cast<float>(isum) / act.scale * w_scale));
    EXPECT_NEAR(got, exact, 4 * 0x1p-24 * magnitude);
  }
}

TEST(FormatsDots, F16xF32) {
  const size_t n = 1001;
  const std::vector<float> wx = uniform_floats(n, 13, 4.0f);
  const std::vector<float> x = uniform_floats(n, 14, 0.5f);
  std::vector<uint16_t> h(n), bf(n);
  quantize_row_f16(wx.data(), h.data(), n);
  quantize_row_bf16(wx.data(), bf.data(), n);
  double exact_h = 0.0, exact_b = 0.0, magnitude = 0.0;
  for (size_t i = 0; i < n; ++i) {
    exact_h += double{fp16_to_fp32(h[i])} * x[i];
    exact_b += double{bf16_to_fp32(bf[i])} * x[i];
    magnitude += std::fabs(double{wx[i]} * x[i]);
  }
  // One final rounding to float of an almost exact double sum.
  EXPECT_NEAR(vec_dot_f16_f32(h.data(), x.data(), n), exact_h, 0x1p-23 * magnitude);
  EXPECT_NEAR(vec_dot_bf16_f32(bf.data(), x.data(), n), exact_b, 0x1p-23 * magnitude);
  EXPECT_EQ(vec_dot_f16_f32(h.data(), x.data(), 0), 0.0f);
}

// The dots in manifest.json: weights = golden row 0 of 'main', activations =
// row 1 quantized with the activation format. ggml's own results, which use
// another summation order, agree within the tolerance.
TEST(FormatsDots, GoldenManifest) {
  TRIX_REQUIRE_SHARED_FILE(input_path, TRIX_GOLDEN_DIR "input_main_f32.bin");
  const std::vector<float> input = read_floats(input_path);
  ASSERT_EQ(input.size(), 4u * 1024u);
  const float* w = input.data();
  const float* x = input.data() + 1024;
  // manifest.json "vec_dot": dequantized_dot_f64 and ggml's vec_dot.
  constexpr double kTernaryRef = -15.157135942878085, kTernaryGgml = -15.157136;
  constexpr double kQ8_0Ref = -14.567633689424838, kQ8_0Ggml = -14.5676308;

  std::vector<BlockQ8_K> a(4);
  quantize_row_q8_k(x, a.data(), 1024);
  std::vector<BlockTQ2_0> w2(4);
  quantize_row_tq2_0(w, w2.data(), 1024);
  std::vector<BlockTQ1_0> w1(4);
  quantize_row_tq1_0(w, w1.data(), 1024);
  // dequantized_dot_f64 is an fp64 dot of ggml's dequantized rows: ours,
  // from our bytes, must give it to fp64 rounding (1e-12), which pins the
  // bytes and decoders; the dots themselves are float contracts (4 blocks,
  // |terms| ~ 10: a few float ulps) and must land on ggml's float results.
  const double tol = 1e-5;
  std::vector<float> wd(1024), ad(1024);
  dequantize_row_q8_k(a.data(), ad.data(), 1024);
  dequantize_row_tq2_0(w2.data(), wd.data(), 1024);
  EXPECT_NEAR(dot64(wd, ad), kTernaryRef, 1e-12);
  dequantize_row_tq1_0(w1.data(), wd.data(), 1024);
  EXPECT_NEAR(dot64(wd, ad), kTernaryRef, 1e-12);
  EXPECT_NEAR(vec_dot_tq2_0_q8_k(w2.data(), a.data(), 1024), kTernaryGgml, tol);
  EXPECT_NEAR(vec_dot_tq1_0_q8_k(w1.data(), a.data(), 1024), kTernaryGgml, tol);
  std::vector<BlockQ8_0> wq(32), aq(32);
  quantize_row_q8_0(w, wq.data(), 1024);
  quantize_row_q8_0(x, aq.data(), 1024);
  dequantize_row_q8_0(wq.data(), wd.data(), 1024);
  dequantize_row_q8_0(aq.data(), ad.data(), 1024);
  EXPECT_NEAR(dot64(wd, ad), kQ8_0Ref, 1e-12);
  EXPECT_NEAR(vec_dot_q8_0_q8_0(wq.data(), aq.data(), 1024), kQ8_0Ggml, tol);
}

}  // namespace
}  // namespace trix::test
