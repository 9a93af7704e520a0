// The edge cases each header documents: sizes that are not a multiple of the
// block, n = 0, all-zero blocks, and NaN / inf inputs (defined bytes, no UB:
// under TRIX_SANITIZE this test also runs with -fsanitize=float-cast-overflow).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/expect_error.h"
#include "formats/golden.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"

namespace trix::test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(FormatsEdge, SizeNotAMultipleOfTheBlockThrows) {
  std::vector<float> x(1024, 0.5f), y(1024);
  std::vector<BlockQ8_K> q8k(4);
  std::vector<BlockTQ2_0> tq2(4);
  std::vector<BlockTQ1_0> tq1(4);
  std::vector<BlockQ8_0> q80(32);
  std::vector<BlockQ4_K> q4k(4);
  std::vector<BlockQ6_K> q6k(4);
  for (const size_t n : {size_t{1}, size_t{255}, size_t{257}, size_t{300}}) {
    EXPECT_THROW(quantize_row_q8_k(x.data(), q8k.data(), n), Error);
    EXPECT_THROW(dequantize_row_q8_k(q8k.data(), y.data(), n), Error);
    EXPECT_THROW(quantize_row_tq2_0(x.data(), tq2.data(), n), Error);
    EXPECT_THROW(dequantize_row_tq2_0(tq2.data(), y.data(), n), Error);
    EXPECT_THROW(vec_dot_tq2_0_q8_k(tq2.data(), q8k.data(), n), Error);
    EXPECT_THROW(quantize_row_tq1_0(x.data(), tq1.data(), n), Error);
    EXPECT_THROW(dequantize_row_tq1_0(tq1.data(), y.data(), n), Error);
    EXPECT_THROW(vec_dot_tq1_0_q8_k(tq1.data(), q8k.data(), n), Error);
    EXPECT_THROW(quantize_row_q4_k(x.data(), q4k.data(), n), Error);
    EXPECT_THROW(dequantize_row_q4_k(q4k.data(), y.data(), n), Error);
    EXPECT_THROW(vec_dot_q4_k_q8_k(q4k.data(), q8k.data(), n), Error);
    EXPECT_THROW(quantize_row_q6_k(x.data(), q6k.data(), n), Error);
    EXPECT_THROW(dequantize_row_q6_k(q6k.data(), y.data(), n), Error);
    EXPECT_THROW(vec_dot_q6_k_q8_k(q6k.data(), q8k.data(), n), Error);
  }
  for (const size_t n : {size_t{1}, size_t{31}, size_t{33}, size_t{100}}) {
    EXPECT_THROW(quantize_row_q8_0(x.data(), q80.data(), n), Error);
    EXPECT_THROW(dequantize_row_q8_0(q80.data(), y.data(), n), Error);
    EXPECT_THROW(vec_dot_q8_0_q8_0(q80.data(), q80.data(), n), Error);
  }
  EXPECT_THROW(i2_s_nbytes(2, 100), Error);
  std::vector<uint8_t> i2(1024);
  EXPECT_THROW(quantize_i2_s(x.data(), 1, 64, i2.data()), Error);
  EXPECT_THROW(dequantize_i2_s(i2.data(), 1, 64, y.data()), Error);
  std::vector<int8_t> q(1024);
  EXPECT_THROW(vec_dot_i2_s_i8(i2.data(), 1.0f, q.data(), 1.0f, 200), Error);
  EXPECT_TRUE(throws_error([&] { quantize_row_q8_k(x.data(), q8k.data(), 300); }, {"300", "256"}));
}

TEST(FormatsEdge, EmptyRowsAreNoOps) {
  quantize_row_q8_k(nullptr, nullptr, 0);
  quantize_row_tq2_0(nullptr, nullptr, 0);
  quantize_row_tq1_0(nullptr, nullptr, 0);
  quantize_row_q8_0(nullptr, nullptr, 0);
  EXPECT_EQ(vec_dot_tq2_0_q8_k(nullptr, nullptr, 0), 0.0f);
  EXPECT_EQ(vec_dot_q8_0_q8_0(nullptr, nullptr, 0), 0.0f);
}

// All-zero input: scale 0, zero codes, and decoded zeros (not NaN).
TEST(FormatsEdge, AllZeroBlocks) {
  const std::vector<float> x(512, 0.0f);
  std::vector<float> y(512, 1.0f);
  {
    std::vector<BlockQ8_K> q(2);
    for (auto& b : q) b.bsums[3] = 77;  // must be overwritten
    quantize_row_q8_k(x.data(), q.data(), 512);
    EXPECT_EQ(q[1].d, 0.0f);
    EXPECT_EQ(q[1].bsums[3], 0);
    dequantize_row_q8_k(q.data(), y.data(), 512);
    for (const float v : y) ASSERT_EQ(v, 0.0f);
  }
  {
    std::vector<BlockTQ2_0> q(2);
    quantize_row_tq2_0(x.data(), q.data(), 512);
    EXPECT_EQ(q[0].d, 0);
    for (const uint8_t b : q[0].qs) ASSERT_EQ(b, 0x55);  // every code 1
    dequantize_row_tq2_0(q.data(), y.data(), 512);
    for (const float v : y) ASSERT_EQ(v, 0.0f);
  }
  {
    std::vector<BlockTQ1_0> q(2);
    quantize_row_tq1_0(x.data(), q.data(), 512);
    EXPECT_EQ(q[0].d, 0);
    dequantize_row_tq1_0(q.data(), y.data(), 512);
    for (const float v : y) ASSERT_EQ(v, 0.0f);
  }
  {
    std::vector<BlockQ8_0> q(16);
    quantize_row_q8_0(x.data(), q.data(), 512);
    dequantize_row_q8_0(q.data(), y.data(), 512);
    for (const float v : y) ASSERT_EQ(v, 0.0f);
  }
  {
    std::vector<BlockQ4_K> q(2);
    quantize_row_q4_k(x.data(), q.data(), 512);
    dequantize_row_q4_k(q.data(), y.data(), 512);
    for (const float v : y) ASSERT_EQ(v, 0.0f);
  }
  {
    std::vector<BlockQ6_K> q(2);
    quantize_row_q6_k(x.data(), q.data(), 512);
    EXPECT_EQ(q[1].d, 0);
    dequantize_row_q6_k(q.data(), y.data(), 512);
    for (const float v : y) ASSERT_EQ(v, 0.0f);
  }
  {
    std::vector<uint8_t> q(i2_s_nbytes(2, 256));
    quantize_i2_s(x.data(), 2, 256, q.data());
    EXPECT_EQ(i2_s_scale(q.data(), 2, 256), 0.0f);
    dequantize_i2_s(q.data(), 2, 256, y.data());
    for (const float v : y) ASSERT_EQ(v, 0.0f);
    std::vector<int8_t> codes(512);
    const I8Activation act = quantize_row_i8_s(x.data(), codes.data(), 512);
    EXPECT_TRUE(std::isfinite(act.scale));
    EXPECT_EQ(act.sum, 0);
    EXPECT_EQ(vec_dot_i2_s_i8(q.data(), 0.0f, codes.data(), act.scale, 512), 0.0f);
  }
}

// NaN and inf: the bytes each header documents, and no UB on the way.
TEST(FormatsEdge, NonFiniteQ8_K) {
  std::vector<float> x(256, 0.25f);
  x[10] = kNaN;
  x[20] = -1.0f;
  BlockQ8_K q;
  quantize_row_q8_k(x.data(), &q, 256);
  EXPECT_EQ(q.qs[10], 0);     // NaN element: code 0
  EXPECT_EQ(q.qs[20], -127);  // the max still wins
  EXPECT_EQ(q.qs[0], 32);     // 0.25 * 127 = 31.75
  x[10] = kInf;
  quantize_row_q8_k(x.data(), &q, 256);
  EXPECT_TRUE(std::isinf(q.d));
  for (const int8_t c : q.qs) ASSERT_EQ(c, 0);
}

TEST(FormatsEdge, NonFiniteTernary) {
  // A NaN resets ggml's running max: only the magnitudes after it count.
  std::vector<float> x(256, 0.0f);
  x[0] = 4.0f;
  x[1] = kNaN;
  x[2] = 1.0f;
  BlockTQ2_0 q2;
  quantize_row_tq2_0(x.data(), &q2, 256);
  EXPECT_EQ(fp16_to_fp32(q2.d), 1.0f);
  EXPECT_EQ(q2.qs[0] & 3, (4 + 1) & 3);  // 4 / 1 rounds to 4: code 5 stored as 5 & 3
  EXPECT_EQ(q2.qs[1] & 3, 1);            // NaN: code 1
  EXPECT_EQ(q2.qs[2] & 3, 2);
  BlockTQ1_0 q1;
  quantize_row_tq1_0(x.data(), &q1, 256);  // wraps in uint8 as ggml; must not trap
  std::vector<float> y(256);
  dequantize_row_tq1_0(&q1, y.data(), 256);
  for (const float v : y) ASSERT_TRUE(v == -1.0f || v == 0.0f || v == 1.0f) << v;
  // NaN as the last element: the max is NaN, so is every decoded value.
  x[255] = kNaN;
  quantize_row_tq2_0(x.data(), &q2, 256);
  dequantize_row_tq2_0(&q2, y.data(), 256);
  EXPECT_TRUE(std::isnan(y[7]));
  // inf: the max is inf, x / inf = 0 or NaN, all codes 1.
  x[255] = kInf;
  quantize_row_tq2_0(x.data(), &q2, 256);
  EXPECT_TRUE(std::isinf(fp16_to_fp32(q2.d)));
  for (const uint8_t b : q2.qs) ASSERT_EQ(b, 0x55);
}

TEST(FormatsEdge, NonFiniteQ8_0) {
  std::vector<float> x(32, 1.0f);
  x[3] = 300.0f;  // the NaN after it resets the max to 1: 300 * 127 overflows int8
  x[4] = kNaN;
  BlockQ8_0 q;
  quantize_row_q8_0(x.data(), &q, 32);
  EXPECT_EQ(q.qs[3], static_cast<int8_t>(static_cast<uint8_t>(38100 & 0xFF)));  // low byte kept
  EXPECT_EQ(q.qs[4], 0);
  x[5] = kInf;
  quantize_row_q8_0(x.data(), &q, 32);  // max = inf, id = 0, inf * 0 = NaN -> 0
  for (const int8_t c : q.qs) ASSERT_EQ(c, 0);
}

TEST(FormatsEdge, NonFiniteI2_S) {
  std::vector<float> x(128, 0.5f);
  x[0] = kNaN;
  x[1] = -kInf;
  x[2] = 1e-7f;
  std::vector<uint8_t> q(i2_s_nbytes(1, 128));
  quantize_i2_s(x.data(), 1, 128, q.data());
  EXPECT_TRUE(std::isinf(i2_s_scale(q.data(), 1, 128)));  // fmax skips NaN
  EXPECT_EQ(i2_s_code(q.data(), 0), 0u);  // NaN -> -1, as bitnet.cpp
  EXPECT_EQ(i2_s_code(q.data(), 1), 0u);
  EXPECT_EQ(i2_s_code(q.data(), 2), 1u);  // |x| < 1e-6 -> 0
  EXPECT_EQ(i2_s_code(q.data(), 3), 2u);
  std::vector<int8_t> codes(128);
  x[1] = 2.0f;
  const I8Activation act = quantize_row_i8_s(x.data(), codes.data(), 128);
  EXPECT_EQ(codes[0], 0);    // NaN -> 0
  EXPECT_EQ(codes[1], 127);  // the max
  EXPECT_EQ(codes[3], 32);   // 0.5 * 63.5 = 31.75
  EXPECT_EQ(act.scale, 63.5f);
}

// K-quant quantizers on NaN / inf: bytes are whatever ggml's arithmetic
// gives, with no UB (the float-cast-overflow sanitizer watches this test).
// What that arithmetic implies, and what is checked: a sub-block holding a
// non-finite value gets a NaN scale (its sums are NaN), which ggml's
// nearest_int turns into scale code 0, and the max over sub-block scales
// skips NaN; so that sub-block decodes to zeros and every other one still
// decodes 0.3 to within its step. Q6_K does so for NaN and +-inf. Q4_K
// (make_qkx2_quants) seeds each sub-block's min/max with its first element:
// a NaN there poisons that sub-block (zeros, here the first one), a NaN
// elsewhere is skipped by the compares and only its own code rounds to 0;
// an inf makes the super-block scales infinite, so every value is NaN.
TEST(FormatsEdge, NonFiniteKQuants) {
  const auto check = [](const std::vector<float>& x, const std::vector<float>& y, size_t sub_block,
                        const char* what) {
    for (size_t s = 0; s < x.size(); s += sub_block) {
      bool finite = true;
      for (size_t i = s; i < s + sub_block; ++i) finite = finite && std::isfinite(x[i]);
      for (size_t i = s; i < s + sub_block; ++i) {
        if (finite) {
          ASSERT_NEAR(y[i], 0.3f, 1e-3f) << what << " element " << i;
        } else {
          ASSERT_EQ(y[i], 0.0f) << what << " element " << i << " (sub-block with a non-finite value)";
        }
      }
    }
  };
  for (const float bad : {kNaN, kInf, -kInf}) {
    SCOPED_TRACE(bad);
    std::vector<float> x(256, 0.3f);
    for (size_t i = 0; i < 256; i += 37) x[i] = bad;
    BlockQ4_K q4;
    quantize_row_q4_k(x.data(), &q4, 256);
    BlockQ6_K q6;
    quantize_row_q6_k(x.data(), &q6, 256);
    std::vector<float> y(256);
    dequantize_row_q6_k(&q6, y.data(), 256);
    check(x, y, 16, "q6_K");
    dequantize_row_q4_k(&q4, y.data(), 256);
    if (std::isnan(bad)) {
      for (size_t i = 0; i < 256; ++i) {
        if (i < 32 || std::isnan(x[i])) {
          ASSERT_EQ(y[i], 0.0f) << "q4_K element " << i;
        } else {
          ASSERT_NEAR(y[i], 0.3f, 1e-3f) << "q4_K element " << i;
        }
      }
    } else {
      for (const float v : y) ASSERT_TRUE(std::isnan(v)) << v;
    }
  }
}

// Ties: Q8_K and I8_S round half to even (ggml's nearest_int; bitnet.cpp's
// for I8_S), TQ2_0 half away from zero (lroundf).
TEST(FormatsEdge, RoundingTies) {
  std::vector<float> x(256, 0.0f);
  x[0] = -127.0f;  // the max: iscale = -127 / max = 1, codes = x
  x[1] = 2.5f;
  x[2] = -3.5f;
  BlockQ8_K q;
  quantize_row_q8_k(x.data(), &q, 256);
  EXPECT_EQ(q.qs[0], -127);
  EXPECT_EQ(q.qs[1], 2);
  EXPECT_EQ(q.qs[2], -4);
  std::vector<float> t(256, 0.0f);
  t[0] = 2.0f;
  t[1] = 1.0f;   // 0.5 after scaling: away from zero -> +1
  t[2] = -1.0f;  // -0.5 -> -1
  BlockTQ2_0 q2;
  quantize_row_tq2_0(t.data(), &q2, 256);
  EXPECT_EQ((q2.qs[1] & 3), 2);
  EXPECT_EQ((q2.qs[2] & 3), 0);
  std::vector<int8_t> codes(256);
  x[0] = 127.0f;  // s = 1
  x[3] = -2.5f;
  x[4] = 0.5f;
  const I8Activation act = quantize_row_i8_s(x.data(), codes.data(), 256);
  EXPECT_EQ(act.scale, 1.0f);
  EXPECT_EQ(codes[1], 2);
  EXPECT_EQ(codes[2], -4);
  EXPECT_EQ(codes[3], -2);
  EXPECT_EQ(codes[4], 0);
  EXPECT_EQ(act.sum, 127 + 2 - 4 - 2);
}

}  // namespace
}  // namespace trix::test
