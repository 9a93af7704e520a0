// A format added through the traits path only (TriX issue 10, item 3): the
// toy4 spec (specs/formats/toy4.yaml here), its codec and its reference dot
// (include/trix/formats/toy4.h here). trix-gen runs at build time on the
// repository's specs plus this folder's into a build-dir tree, which this
// test includes instead of generated/; no library header names toy4. The
// quantizer, the runtime's reference matmul and the embedding lookup then
// handle it through kFormatTraits alone, checked here against computations
// written out in the test from the block struct.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "trix/convert/quantize.h"
#include "trix/formats/traits.h"
#include "trix/runtime/embedding.h"
#include "trix/runtime/reference_ops.h"

namespace trix {
namespace {

constexpr size_t kRows = 7, kCols = 96;  // 3 blocks per row

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  x[5] = 0.0f;
  for (size_t i = 64; i < 96; ++i) x[i] = 0.0f;  // an all-zero block (d = 0)
  return x;
}

// Element e of a toy4 row, read from the generated block struct, not the codec.
float decode(const std::vector<uint8_t>& bytes, size_t row, size_t e) {
  BlockTOY4 blk;
  std::memcpy(&blk, bytes.data() + (row * kCols + e) / 32 * sizeof blk, sizeof blk);
  const size_t i = e % 32;
  const int nibble = (blk.qs[i / 2] >> (i % 2 ? 4 : 0)) & 15;
  return fp16_to_fp32(blk.d) * static_cast<float>(nibble - 8);
}

std::vector<uint8_t> quantized(const std::vector<float>& x) {
  ThreadPool pool(3);
  std::vector<uint8_t> out;
  quantize_tensor(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4),
                  FormatId::F32, kRows, kCols, FormatId::TOY4, pool,
                  [&](std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); },
                  {}, "toy", /*chunk_elements=*/2 * kCols);
  return out;
}

TEST(ToyFormat, TraitsComeFromItsSpec) {
  const FormatTraits& t = format_traits(FormatId::TOY4);
  EXPECT_STREQ(t.name, "toy4");
  EXPECT_EQ(t.block_elements, 32u);
  EXPECT_EQ(t.block_bytes, sizeof(BlockTOY4));
  EXPECT_EQ(t.matmul_activations, FormatId::Q8_0);
  EXPECT_EQ(t.prepare, Prepare::None);
  EXPECT_STREQ(t.kernels, "");
  EXPECT_EQ(parse_format_name("TOY4").id, FormatId::TOY4);
  EXPECT_TRUE(has_quantizer(FormatId::TOY4));
  EXPECT_TRUE(matvec_supported(FormatId::TOY4));
  EXPECT_FALSE(is_gguf_weight_format(FormatId::TOY4));  // no ggml type id
  EXPECT_FALSE(llama_file_type(FormatId::TOY4).has_value());
}

// quantize_tensor / dequantize_tensor run the codec the table names: bytes
// as the codec writes them, values as the block struct decodes, and within
// half a step of the input.
TEST(ToyFormat, QuantizerRoundTrip) {
  const std::vector<float> x = random_values(kRows * kCols, 1);
  const std::vector<uint8_t> bytes = quantized(x);
  ASSERT_EQ(bytes.size(), tensor_nbytes(FormatId::TOY4, kRows, kCols));
  ASSERT_EQ(bytes.size(), kRows * kCols / 32 * 18);

  std::vector<BlockTOY4> direct(kRows * kCols / 32);
  quantize_row_toy4(x.data(), direct.data(), x.size());
  EXPECT_EQ(std::memcmp(direct.data(), bytes.data(), bytes.size()), 0);

  ThreadPool pool(2);
  std::vector<float> back;
  dequantize_tensor(bytes, FormatId::TOY4, kRows, kCols, pool, [&](std::span<const uint8_t> b) {
    const size_t at = back.size();
    back.resize(at + b.size() / 4);
    std::memcpy(back.data() + at, b.data(), b.size());
  });
  ASSERT_EQ(back.size(), x.size());
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t c = 0; c < kCols; ++c) {
      const size_t i = r * kCols + c;
      ASSERT_EQ(back[i], decode(bytes, r, c)) << i;  // exact
      BlockTOY4 blk;
      std::memcpy(&blk, bytes.data() + i / 32 * sizeof blk, sizeof blk);
      const float d = fp16_to_fp32(blk.d);
      EXPECT_LE(std::fabs(back[i] - x[i]), 0.5f * d * (1.0f + 1e-3f)) << i;  // half a step
    }
  }
}

// ref::matmul over toy4 weights: activations quantized to Q8_0 (the spec's
// matmul.activations), the codec's dot per (row, token), times the scale.
// Checked against a double sum of the decoded weights times the decoded
// Q8_0 activations; tolerance 1e-5 * sum |w a| (float accumulation of three
// block products).
TEST(ToyFormat, ReferenceMatmulAndEmbedding) {
  const std::vector<uint8_t> bytes = quantized(random_values(kRows * kCols, 2));
  const int64_t n_tok = 3;
  std::vector<float> x(n_tok * kCols);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  for (auto& v : x) v = u(rng);

  const WeightView w{bytes.data(), FormatId::TOY4, kRows, kCols, 0.5f};
  ThreadPool pool(2);
  ref::MatvecScratch scratch;
  std::vector<float> y(n_tok * kRows);
  ref::matmul(w, x.data(), n_tok, y.data(), pool, scratch);

  for (int64_t t = 0; t < n_tok; ++t) {
    std::vector<BlockQ8_0> a(kCols / 32);
    quantize_row_q8_0(x.data() + t * kCols, a.data(), kCols);
    for (size_t r = 0; r < kRows; ++r) {
      double sum = 0.0, mag = 0.0;
      for (size_t c = 0; c < kCols; ++c) {
        const double av = double{fp16_to_fp32(a[c / 32].d)} * a[c / 32].qs[c % 32];
        sum += double{decode(bytes, r, c)} * av;
        mag += std::fabs(double{decode(bytes, r, c)} * av);
      }
      EXPECT_NEAR(y[t * kRows + r], 0.5 * sum, 0.5 * 1e-5 * mag + 1e-30) << t << " " << r;
      // One token at a time gives the same bits.
      std::vector<float> y1(kRows);
      ref::matvec(w, x.data() + t * kCols, y1.data(), pool, scratch);
      EXPECT_EQ(y1[r], y[t * kRows + r]);
    }
  }

  std::vector<float> row(kCols);
  for (size_t r = 0; r < kRows; ++r) {
    embedding_row(w, static_cast<int64_t>(r), row.data());
    for (size_t c = 0; c < kCols; ++c) ASSERT_EQ(row[c], decode(bytes, r, c) * 0.5f) << r << " " << c;
  }
}

}  // namespace
}  // namespace trix
