// The Highway small ops (trix/cpu/ops-inl.h) on every compiled target against
// the scalar versions in trix/runtime/matmul.h and trix/formats.
//
// Tolerances:
//   quantize_row_q8_k, quantize_row_i8_s: same bytes, scale bits and sum;
//     i8_s's exact .5 products: literal half-to-even codes;
//   rmsnorm, rope (both styles), relu2_gate, add_inplace: same bits as the
//     scalar ops (the vector code keeps their operation order and turns FP
//     contraction off; GCC would otherwise fuse a * b + c on FMA targets);
//   swiglu: |err| <= 1e-6 * |ref| + 1e-35 vs fp64 (Highway's exp is within a
//     few ulp; then one division and one product; near g = -88 its exp
//     overflows to inf a little early, giving -0 for a true |value| < 1e-36);
//   attention: see TestAttentionHeadMatchesScalar;
//   softmax: |err| <= 1e-6 per probability vs fp64 (as tests/runtime states
//     for the scalar softmax), and the probabilities sum to 1 within 1e-5.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/bits.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/ops_test_ref.h"
#include "trix/core/fp16.h"
#include "trix/cpu/ops-inl.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q8_k.h"

#ifndef TRIX_OPS_TEST_HELPERS_
#define TRIX_OPS_TEST_HELPERS_
namespace trix::ops_test {

inline std::vector<float> random_vec(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

inline constexpr float kInf = std::numeric_limits<float>::infinity();
inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Inputs for the quantizers: random scales, edge values and non-finite ones.
inline std::vector<std::pair<std::string, std::vector<float>>> quantizer_inputs(size_t n) {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  out.emplace_back("normal", random_vec(n, n + 1, -3.0f, 3.0f));
  out.emplace_back("huge", random_vec(n, n + 2, -1e30f, 1e30f));
  out.emplace_back("tiny", random_vec(n, n + 3, -1e-40f, 1e-40f));  // subnormal
  out.emplace_back("zeros", std::vector<float>(n, 0.0f));
  out.emplace_back("neg_zeros", std::vector<float>(n, -0.0f));
  out.emplace_back("equal", std::vector<float>(n, 0.75f));
  {
    // Ties for the maximum with both signs, and exact .5 products.
    auto v = random_vec(n, n + 4, -1.0f, 1.0f);
    for (size_t i = 0; i < n; i += 7) v[i] = (i / 7) % 2 ? 127.0f : -127.0f;
    for (size_t i = 3; i < n; i += 11) v[i] = static_cast<float>(static_cast<int>(i % 200) - 100) + 0.5f;
    out.emplace_back("ties", v);
  }
  for (size_t pos : {size_t{0}, n / 3, n - 1}) {
    if (n == 0) break;
    auto v = random_vec(n, n + 5 + pos, -2.0f, 2.0f);
    v[pos] = kNaN;
    out.emplace_back("nan@" + std::to_string(pos), v);
    v[pos] = -kInf;
    out.emplace_back("inf@" + std::to_string(pos), v);
  }
  return out;
}

}  // namespace trix::ops_test
#endif  // TRIX_OPS_TEST_HELPERS_

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

const size_t kSizes[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 172, 255, 2560, 2561, 6912};

std::string target() { return hwy::TargetName(HWY_TARGET); }

void TestRmsNormSameBits() {
  for (size_t n : kSizes) {
    const auto x = ops_test::random_vec(n, n, -4.0f, 4.0f);
    const auto w = ops_test::random_vec(n, n + 100, 0.5f, 1.5f);
    std::vector<float> want(n), got(n);
    ops_test::ref_rmsnorm(x.data(), w.data(), want.data(), n, 1e-5f);
    RmsNorm(x.data(), w.data(), got.data(), n, 1e-5f);
    ASSERT_TRUE(test::same_bits(want.data(), got.data(), n)) << target() << " n=" << n;
    std::vector<float> inplace = x;
    RmsNorm(inplace.data(), w.data(), inplace.data(), n, 1e-5f);
    ASSERT_TRUE(test::same_bits(want.data(), inplace.data(), n)) << target() << " in place n=" << n;
  }
}

void TestRopeSameBits() {
  for (size_t head_dim : {2u, 4u, 8u, 16u, 34u, 64u, 128u, 1024u}) {
    for (size_t heads : {1u, 3u, 20u}) {
      std::vector<float> c(head_dim / 2), s(head_dim / 2);
      ops_test::ref_rope_table(1234, head_dim, 500000.0f, c.data(), s.data());
      const auto x = ops_test::random_vec(heads * head_dim, head_dim + heads, -3.0f, 3.0f);
      for (bool neox : {false, true}) {
        std::vector<float> want = x, got = x;
        ops_test::ref_rope_apply(want.data(), heads, head_dim, c.data(), s.data(), neox);
        if (!neox) {
          RopeAdjacent(got.data(), heads, head_dim, c.data(), s.data());
        } else {
          RopeNeox(got.data(), heads, head_dim, c.data(), s.data());
        }
        ASSERT_TRUE(test::same_bits(want.data(), got.data(), want.size()))
            << target() << " head_dim=" << head_dim << " heads=" << heads
            << (neox ? " neox" : " adjacent");
      }
    }
  }
}

void TestRelu2AndAddSameBits() {
  for (size_t n : kSizes) {
    auto g = ops_test::random_vec(n, n, -5.0f, 5.0f);
    if (n > 2) {
      g[0] = -0.0f;
      g[1] = ops_test::kNaN;  // the scalar gate maps NaN to 0
    }
    const auto up = ops_test::random_vec(n, n + 1, -2.0f, 2.0f);
    std::vector<float> want = g, got = g;
    ops_test::ref_relu2_gate(want.data(), up.data(), n);
    Relu2Gate(got.data(), up.data(), n);
    ASSERT_TRUE(test::same_bits(want.data(), got.data(), n)) << target() << " relu2 n=" << n;
    want = g;
    got = g;
    ops_test::ref_add_inplace(want.data(), up.data(), n);
    AddInplace(got.data(), up.data(), n);
    ASSERT_TRUE(test::same_bits(want.data(), got.data(), n)) << target() << " add n=" << n;
  }
}

void TestSwiGluMatchesFp64() {
  for (size_t n : kSizes) {
    auto g = ops_test::random_vec(n, n, -20.0f, 20.0f);
    const float extremes[] = {-1000.0f, -200.0f, -104.5f, -90.0f, -88.0f, 0.0f, -0.0f, 88.0f, 200.0f};
    for (size_t i = 0; i < n && i < std::size(extremes); ++i) g[i * 3 % n] = extremes[i];
    const auto up = ops_test::random_vec(n, n + 1, -2.0f, 2.0f);
    std::vector<float> got = g;
    SwiGlu(got.data(), up.data(), n);
    for (size_t i = 0; i < n; ++i) {
      const double gd = g[i];
      const double ref = gd / (1.0 + std::exp(-gd)) * up[i];
      ASSERT_NEAR(got[i], ref, 1e-6 * std::fabs(ref) + 1e-35)
          << target() << " n=" << n << " i=" << i << " g=" << g[i];
    }
  }
}

void TestSoftmaxMatchesFp64() {
  for (size_t n : kSizes) {
    auto x = ops_test::random_vec(n, n, -30.0f, 30.0f);
    if (n > 4) x[n / 2] = -ops_test::kInf;  // masked positions give 0
    std::vector<float> got = x;
    Softmax(got.data(), n);
    double max = x[0];
    for (float v : x) max = v > max ? v : max;
    double sum = 0;
    for (float v : x) sum += std::exp(double{v} - max);
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      const double ref = std::exp(double{x[i]} - max) / sum;
      ASSERT_NEAR(got[i], ref, 1e-6) << target() << " n=" << n << " i=" << i;
      total += got[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-5) << target() << " n=" << n;
  }
}

// One head's attention, f32 and f16 caches, head sizes with and without a
// partial vector tail, 1 .. 37 positions, a stride wider than the head:
// within 2e-6 * max|v| of the scalar trix::ref::attention_head (their softmaxes
// differ by a few ulp per probability; every other step is the same), and
// the f16 cache gives the same bits as the f32 cache holding the widened
// values (widening is exact).
void TestAttentionHeadMatchesScalar() {
  for (size_t head_dim : {4u, 20u, 64u, 128u}) {
    for (size_t n_pos : {1u, 2u, 9u, 37u}) {
      const size_t stride = 3 * head_dim;
      std::vector<float> q = ops_test::random_vec(head_dim, head_dim + n_pos, -1.0f, 1.0f);
      std::vector<uint16_t> k16(n_pos * stride), v16(n_pos * stride);
      std::vector<float> k32(n_pos * stride), v32(n_pos * stride);
      const auto kf = ops_test::random_vec(n_pos * stride, 7 * n_pos + head_dim, -2.0f, 2.0f);
      const auto vf = ops_test::random_vec(n_pos * stride, 11 * n_pos + head_dim, -3.0f, 3.0f);
      for (size_t i = 0; i < n_pos * stride; ++i) {
        k16[i] = fp32_to_fp16(kf[i]);
        v16[i] = fp32_to_fp16(vf[i]);
        k32[i] = fp16_to_fp32(k16[i]);
        v32[i] = fp16_to_fp32(v16[i]);
      }
      std::vector<float> scores(n_pos), got32(head_dim, -1.0f), got16(head_dim, -2.0f), want(head_dim);
      AttentionHeadF32(q.data(), k32.data(), v32.data(), n_pos, stride, head_dim, scores.data(), got32.data());
      AttentionHeadF16(q.data(), k16.data(), v16.data(), n_pos, stride, head_dim, scores.data(), got16.data());
      ops_test::ref_attention_head(q.data(), k32.data(), v32.data(), n_pos, stride, head_dim, scores.data(),
                                   want.data());
      for (size_t i = 0; i < head_dim; ++i) {
        ASSERT_NEAR(got32[i], want[i], 2e-6 * 3.0) << target() << " d=" << head_dim << " n=" << n_pos << " i=" << i;
        ASSERT_EQ(std::memcmp(&got32[i], &got16[i], sizeof(float)), 0)
            << target() << " d=" << head_dim << " n=" << n_pos << " i=" << i;
      }
    }
  }
}

void TestQuantizeQ8KSameBytes() {
  for (size_t n : {256u, 512u, 2560u}) {
    for (const auto& [label, x] : ops_test::quantizer_inputs(n)) {
      std::vector<BlockQ8_K> want(n / 256), got(n / 256);
      std::memset(want.data(), 0xAB, want.size() * sizeof(BlockQ8_K));
      std::memset(got.data(), 0xCD, got.size() * sizeof(BlockQ8_K));
      trix::quantize_row_q8_k(x.data(), want.data(), n);
      QuantizeRowQ8K(x.data(), got.data(), n);
      for (size_t b = 0; b < n / 256; ++b) {
        ASSERT_EQ(std::memcmp(&want[b], &got[b], sizeof(BlockQ8_K)), 0)
            << target() << " " << label << " n=" << n << " block " << b << " d " << want[b].d
            << " vs " << got[b].d;
      }
    }
  }
}

void TestQuantizeI8SSameBytes() {
  for (size_t n : {0u, 1u, 5u, 16u, 17u, 255u, 256u, 2560u, 2561u}) {
    for (const auto& [label, x] : ops_test::quantizer_inputs(n)) {
      std::vector<int8_t> want(n + 1, 7), got(n + 1, 7);  // +1: nothing written past n
      const I8Activation a = trix::quantize_row_i8_s(x.data(), want.data(), n);
      const I8Activation b = QuantizeRowI8S(x.data(), got.data(), n);
      ASSERT_EQ(std::memcmp(want.data(), got.data(), n + 1), 0) << target() << " " << label << " n=" << n;
      ASSERT_TRUE(test::same_bits(&a.scale, &b.scale, 1)) << target() << " " << label << " n=" << n;
      ASSERT_EQ(a.sum, b.sum) << target() << " " << label << " n=" << n;
    }
  }
}

// Exact .5 products round half to even (bitnet.cpp's nearest_int), with
// both signs, in the scalar reference and on this target, against literal
// codes (not against each other). The row's max sets s exactly: 127 gives
// s = 1, 63.5 gives s = 2. Lengths 37 and 301 put ties in full vectors and
// in the masked tail on every target.
void TestQuantizeI8SRoundsHalfToEven() {
  struct Case {
    float max;
    std::vector<float> x;
    std::vector<int8_t> want;
  };
  const std::vector<Case> cases = {
      {127.0f,
       {0.5f, 1.5f, 2.5f, 3.5f, -0.5f, -1.5f, -2.5f, -3.5f, 126.5f, -126.5f, 125.5f, -125.5f, 0.49999997f,
        -0.50000006f},
       {0, 2, 2, 4, 0, -2, -2, -4, 126, -126, 126, -126, 0, -1}},
      {63.5f, {0.25f, 0.75f, 1.25f, 1.75f, -0.25f, -0.75f, -1.25f, -1.75f, 63.25f, -63.25f},
       {0, 2, 2, 4, 0, -2, -2, -4, 126, -126}},
  };
  for (const Case& c : cases) {
    for (size_t n : {37u, 301u}) {
      // x[0] is the max; the ties repeat over the rest (codes fill every lane).
      std::vector<float> x(n);
      std::vector<int8_t> want(n);
      x[0] = c.max;
      want[0] = 127;
      int32_t want_sum = 127;
      for (size_t i = 1; i < n; ++i) {
        x[i] = c.x[(i - 1) % c.x.size()];
        want[i] = c.want[(i - 1) % c.want.size()];
        want_sum += want[i];
      }
      std::vector<int8_t> ref(n), got(n);
      const I8Activation a = trix::quantize_row_i8_s(x.data(), ref.data(), n);
      const I8Activation b = QuantizeRowI8S(x.data(), got.data(), n);
      ASSERT_EQ(a.scale, 127.0f / c.max);
      ASSERT_EQ(b.scale, a.scale) << target();
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(ref[i], want[i]) << "scalar, max " << c.max << " x[" << i << "] = " << x[i];
        ASSERT_EQ(got[i], want[i]) << target() << ", max " << c.max << " x[" << i << "] = " << x[i];
      }
      ASSERT_EQ(a.sum, want_sum);
      ASSERT_EQ(b.sum, want_sum) << target();
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::cpu {
HWY_BEFORE_TEST(OpsTest);
HWY_EXPORT_AND_TEST_P(OpsTest, TestRmsNormSameBits);
HWY_EXPORT_AND_TEST_P(OpsTest, TestRopeSameBits);
HWY_EXPORT_AND_TEST_P(OpsTest, TestRelu2AndAddSameBits);
HWY_EXPORT_AND_TEST_P(OpsTest, TestSwiGluMatchesFp64);
HWY_EXPORT_AND_TEST_P(OpsTest, TestSoftmaxMatchesFp64);
HWY_EXPORT_AND_TEST_P(OpsTest, TestAttentionHeadMatchesScalar);
HWY_EXPORT_AND_TEST_P(OpsTest, TestQuantizeQ8KSameBytes);
HWY_EXPORT_AND_TEST_P(OpsTest, TestQuantizeI8SSameBytes);
HWY_EXPORT_AND_TEST_P(OpsTest, TestQuantizeI8SRoundsHalfToEven);
}  // namespace trix::cpu
#endif
