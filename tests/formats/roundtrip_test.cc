// Round trips: ternary inputs come back exactly through every ternary format;
// other inputs come back within each format's stated bound; the checks on
// n, zero blocks and non-finite input that the headers document.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/bits.h"
#include "formats/golden.h"
#include "formats/inputs.h"
#include "trix/formats/f16.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"

namespace trix::test {
namespace {

// x = t * scale with t ternary; scale exact in f16, so every ternary format
// must return x bit for bit.
std::vector<float> ternary_floats(size_t n, uint64_t seed, float scale) {
  Lcg rng(seed);
  std::vector<float> out(n);
  for (auto& v : out) v = static_cast<float>(rng.ternary()) * scale;
  out[0] = scale;  // every 256-block must reach the scale: set one per block
  for (size_t i = 256; i < n; i += 256) out[i + 7] = -scale;
  return out;
}

// x quantized and dequantized: the blocks and the values read back.
template <class Block>
struct RoundTrip {
  std::vector<Block> q;
  std::vector<float> y;
};
template <class Block>
RoundTrip<Block> round_trip(const std::vector<float>& x, void (*quantize)(const float*, Block*, size_t),
                            void (*dequantize)(const Block*, float*, size_t)) {
  RoundTrip<Block> r{std::vector<Block>(x.size() / Block::kElements), std::vector<float>(x.size())};
  quantize(x.data(), r.q.data(), x.size());
  dequantize(r.q.data(), r.y.data(), x.size());
  return r;
}

template <class Block>
void expect_ternary_round_trip(void (*quantize)(const float*, Block*, size_t),
                               void (*dequantize)(const Block*, float*, size_t)) {
  for (const float scale : {1.0f, 0.5f, 0.0390625f, 1234.0f}) {
    for (const size_t nblocks : {size_t{1}, size_t{3}, size_t{8}}) {
      const size_t n = nblocks * Block::kElements;
      const std::vector<float> x = ternary_floats(n, nblocks * 31 + 7, scale);
      const std::vector<float> y = round_trip(x, quantize, dequantize).y;
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(y[i], x[i]) << "scale " << scale << " element " << i;
    }
  }
}

TEST(FormatsRoundTrip, TernaryTQ2_0) { expect_ternary_round_trip<BlockTQ2_0>(quantize_row_tq2_0, dequantize_row_tq2_0); }
TEST(FormatsRoundTrip, TernaryTQ1_0) { expect_ternary_round_trip<BlockTQ1_0>(quantize_row_tq1_0, dequantize_row_tq1_0); }

TEST(FormatsRoundTrip, TernaryI2_S) {
  for (const auto& [rows, cols] : {std::pair<size_t, size_t>{1, 128}, {3, 384}, {5, 256}}) {
    const std::vector<float> x = ternary_floats(rows * cols, rows + cols, 0.75f);
    std::vector<uint8_t> packed(i2_s_nbytes(rows, cols), 0xAB);
    quantize_i2_s(x.data(), rows, cols, packed.data());
    EXPECT_EQ(i2_s_scale(packed.data(), rows, cols), 0.75f);
    for (size_t i = rows * cols / 4 + 4; i < packed.size(); ++i) EXPECT_EQ(packed[i], 0) << "trailer byte " << i;
    std::vector<float> y(rows * cols);
    dequantize_i2_s(packed.data(), rows, cols, y.data());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], x[i]) << rows << "x" << cols << " element " << i;
  }
}

// The layout DESIGN.md states, checked on single weights: byte j of a
// 128-group holds weight j in bits 7-6, j+32 in 5-4, j+64 in 3-2, j+96 in 1-0.
TEST(FormatsRoundTrip, I2_SLayout) {
  for (const size_t i : {size_t{0}, size_t{5}, size_t{37}, size_t{70}, size_t{127}, size_t{128 + 99}}) {
    std::vector<float> x(256, 0.0f);
    x[i] = -2.0f;  // code 0 in a field of code-1 (zero) weights
    std::vector<uint8_t> packed(i2_s_nbytes(1, 256));
    quantize_i2_s(x.data(), 1, 256, packed.data());
    const size_t group = i / 128, j = i % 128;
    for (size_t b = 0; b < 64; ++b) {
      const uint8_t expected = (b == group * 32 + j % 32)
                                   ? static_cast<uint8_t>(0x55 & ~(3u << (6 - 2 * (j / 32))))
                                   : uint8_t{0x55};
      ASSERT_EQ(packed[b], expected) << "weight " << i << " byte " << b;
    }
  }
}

// TQ2_0 layout from DESIGN.md: byte j+m (j in {0,32}) holds element 4j+m+32n at bits 2n.
TEST(FormatsRoundTrip, TQ2_0Layout) {
  for (const size_t e : {size_t{0}, size_t{33}, size_t{100}, size_t{128}, size_t{255}}) {
    std::vector<float> x(256, 0.0f);
    x[e] = 1.0f;
    BlockTQ2_0 blk;
    quantize_row_tq2_0(x.data(), &blk, 256);
    const size_t j = e / 128 * 32, m = e % 32, nfield = (e % 128) / 32;
    for (size_t b = 0; b < 64; ++b) {
      const uint8_t expected = b == j + m ? static_cast<uint8_t>(0x55 + (1u << (2 * nfield))) : uint8_t{0x55};
      ASSERT_EQ(blk.qs[b], expected) << "element " << e << " byte " << b;
    }
  }
}

// Non-ternary input: |x - dequant(quant(x))| <= amax/2 plus the f16 rounding
// of the scale (the code error is at most half a step of amax).
template <class Block>
void expect_ternary_bound(void (*quantize)(const float*, Block*, size_t),
                          void (*dequantize)(const Block*, float*, size_t)) {
  const size_t n = 4 * 256;
  const std::vector<float> x = uniform_floats(n, 99, 3.0f);
  const std::vector<float> y = round_trip(x, quantize, dequantize).y;
  for (size_t b = 0; b < n / 256; ++b) {
    float amax = 0.0f;
    for (size_t i = 0; i < 256; ++i) amax = std::max(amax, std::fabs(x[b * 256 + i]));
    const float bound = 0.5f * amax + amax * 0x1p-11f;
    for (size_t i = 0; i < 256; ++i) ASSERT_LE(std::fabs(x[b * 256 + i] - y[b * 256 + i]), bound);
  }
}
TEST(FormatsRoundTrip, BoundTQ2_0) { expect_ternary_bound<BlockTQ2_0>(quantize_row_tq2_0, dequantize_row_tq2_0); }
TEST(FormatsRoundTrip, BoundTQ1_0) { expect_ternary_bound<BlockTQ1_0>(quantize_row_tq1_0, dequantize_row_tq1_0); }

// Q8_K: d = max/127 in f32; error <= d/2 plus float rounding of the products.
TEST(FormatsRoundTrip, BoundQ8_K) {
  const size_t n = 5 * 256;
  const std::vector<float> x = uniform_floats(n, 5, 40.0f);
  const auto [q, y] = round_trip<BlockQ8_K>(x, quantize_row_q8_k, dequantize_row_q8_k);
  for (size_t b = 0; b < q.size(); ++b) {
    int32_t bsum = 0;
    for (size_t i = 0; i < 256; ++i) {
      const float d = std::fabs(q[b].d);
      ASSERT_LE(std::fabs(x[b * 256 + i] - y[b * 256 + i]), 0.5f * d * (1.0f + 1e-5f) + std::fabs(x[b * 256 + i]) * 0x1p-22f);
      ASSERT_GE(q[b].qs[i], -127);
      bsum += q[b].qs[i];
      if (i % 16 == 15) {
        ASSERT_EQ(q[b].bsums[i / 16], bsum);
        bsum = 0;
      }
    }
  }
}

// Q8_0: d = amax/127 rounded to f16 after the codes were chosen with the f32
// d, so the bound is d/2 + 127 * |d - f16(d)| <= d * (1/2 + 127 * 2^-11).
TEST(FormatsRoundTrip, BoundQ8_0) {
  const size_t n = 40 * 32;
  const std::vector<float> x = uniform_floats(n, 6, 7.0f);
  const auto [q, y] = round_trip<BlockQ8_0>(x, quantize_row_q8_0, dequantize_row_q8_0);
  for (size_t b = 0; b < q.size(); ++b) {
    float amax = 0.0f;
    for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    const float d = amax / 127.0f;
    for (size_t i = 0; i < 32; ++i) {
      ASSERT_LE(std::fabs(x[b * 32 + i] - y[b * 32 + i]), d * (0.5f + 127.0f * 0x1p-11f) + amax * 0x1p-22f);
    }
  }
}

// F16/BF16 rows: the scalar conversions, element by element, any n.
TEST(FormatsRoundTrip, F16AndBF16Rows) {
  std::vector<float> x = uniform_floats(37, 8, 70000.0f);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[4] = -std::numeric_limits<float>::infinity();
  x[5] = 1e-8f;
  std::vector<uint16_t> h(x.size()), bf(x.size());
  quantize_row_f16(x.data(), h.data(), x.size());
  quantize_row_bf16(x.data(), bf.data(), x.size());
  std::vector<float> yh(x.size()), yb(x.size()), y32(x.size());
  dequantize_row_f16(h.data(), yh.data(), x.size());
  dequantize_row_bf16(bf.data(), yb.data(), x.size());
  quantize_row_f32(x.data(), y32.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h[i], fp32_to_fp16(x[i]));
    EXPECT_EQ(bf[i], fp32_to_bf16(x[i]));
    EXPECT_TRUE(same_bits(yh[i], fp16_to_fp32(h[i])));
    EXPECT_TRUE(same_bits(yb[i], bf16_to_fp32(bf[i])));
    EXPECT_TRUE(same_bits(y32[i], x[i]));
  }
  EXPECT_TRUE(std::isnan(yh[3]) && std::isnan(yb[3]));
  EXPECT_EQ(yh[4], -std::numeric_limits<float>::infinity());
  quantize_row_f16(x.data(), h.data(), 0);  // n = 0 is valid and touches nothing
}

}  // namespace
}  // namespace trix::test
