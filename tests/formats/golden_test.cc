// Byte-exact checks against ggml's own reference quantizers: for every format
// in ../shared/testdata/ggml-golden, quantizing the golden inputs gives the
// golden bytes, and dequantizing the golden bytes gives ggml's floats bit for
// bit ('main', 'special' and 'wide' inputs alike; the formats added for
// users' llama files, Q4_0 ... Q5_K, have the 'wide' set only). All 13
// types of the wide set are here; a mismatch reports how many blocks /
// floats differ.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/bits.h"
#include "formats/golden.h"
#include "trix/formats/q2_k.h"
#include "trix/formats/q3_k.h"
#include "trix/formats/q4_0.h"
#include "trix/formats/q4_1.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q5_0.h"
#include "trix/formats/q5_1.h"
#include "trix/formats/q5_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"

namespace trix::test {
namespace {

// Which golden input sets a type has.
enum class Parts { All, WideOnly };

template <class Block>
void check_golden(const char* type, void (*quantize)(const float*, Block*, size_t),
                  void (*dequantize)(const Block*, float*, size_t), Parts parts = Parts::All) {
  for (const GoldenPart& part : kGoldenParts) {
    if (parts == Parts::WideOnly && std::string(part.name) != "wide") continue;
    SCOPED_TRACE(std::string(type) + " / " + part.name);
    const std::string stem = std::string(TRIX_GOLDEN_DIR) + part.name;
    TRIX_REQUIRE_SHARED_FILE(input_path, std::string(TRIX_GOLDEN_DIR) + "input_" + part.name + "_f32.bin");
    TRIX_REQUIRE_SHARED_FILE(quant_path, stem + "_" + type + ".bin");
    TRIX_REQUIRE_SHARED_FILE(dequant_path, stem + "_" + type + "_dequant_f32.bin");
    const std::vector<float> input = read_floats(input_path);
    const std::vector<uint8_t> golden = read_bytes(quant_path);
    const std::vector<float> golden_dequant = read_floats(dequant_path);
    const size_t n = part.rows * part.cols;
    ASSERT_EQ(input.size(), n);
    ASSERT_EQ(golden.size(), n / Block::kElements * sizeof(Block));
    ASSERT_EQ(golden_dequant.size(), n);

    if (quantize != nullptr) {
      std::vector<Block> blocks(n / Block::kElements);
      quantize(input.data(), blocks.data(), n);
      std::vector<uint8_t> bytes(golden.size());
      std::memcpy(bytes.data(), blocks.data(), bytes.size());
      size_t bad_blocks = 0, first_bad = bytes.size();
      for (size_t b = 0; b < blocks.size(); ++b) {
        const size_t at = b * sizeof(Block);
        if (std::memcmp(bytes.data() + at, golden.data() + at, sizeof(Block)) == 0) continue;
        ++bad_blocks;
        for (size_t i = at; i < at + sizeof(Block) && first_bad == bytes.size(); ++i) {
          if (bytes[i] != golden[i]) first_bad = i;
        }
      }
      EXPECT_EQ(bad_blocks, 0u) << "of " << blocks.size() << " blocks differ from ggml's bytes; first at byte "
                                << first_bad << " (block " << first_bad / sizeof(Block) << ")";
    }

    std::vector<Block> golden_blocks(golden.size() / sizeof(Block));
    std::memcpy(golden_blocks.data(), golden.data(), golden.size());
    std::vector<float> out(n);
    dequantize(golden_blocks.data(), out.data(), n);
    size_t bad = 0, first_bad = n;
    for (size_t i = 0; i < n; ++i) {
      if (same_bits(out[i], golden_dequant[i])) continue;
      if (bad++ == 0) first_bad = i;
    }
    EXPECT_EQ(bad, 0u) << "of " << n << " dequantized floats differ from ggml's; first: element " << first_bad
                       << ": " << (bad ? out[first_bad] : 0.0f) << " vs ggml "
                       << (bad ? golden_dequant[first_bad] : 0.0f);
  }
}

TEST(FormatsGolden, Q8_K) { check_golden<BlockQ8_K>("q8_K", quantize_row_q8_k, dequantize_row_q8_k); }
TEST(FormatsGolden, TQ2_0) { check_golden<BlockTQ2_0>("tq2_0", quantize_row_tq2_0, dequantize_row_tq2_0); }
TEST(FormatsGolden, TQ1_0) { check_golden<BlockTQ1_0>("tq1_0", quantize_row_tq1_0, dequantize_row_tq1_0); }
TEST(FormatsGolden, Q8_0) { check_golden<BlockQ8_0>("q8_0", quantize_row_q8_0, dequantize_row_q8_0); }
TEST(FormatsGolden, Q4_K) { check_golden<BlockQ4_K>("q4_K", quantize_row_q4_k, dequantize_row_q4_k); }
TEST(FormatsGolden, Q6_K) { check_golden<BlockQ6_K>("q6_K", quantize_row_q6_k, dequantize_row_q6_k); }
TEST(FormatsGolden, Q4_0) { check_golden<BlockQ4_0>("q4_0", quantize_row_q4_0, dequantize_row_q4_0, Parts::WideOnly); }
TEST(FormatsGolden, Q4_1) { check_golden<BlockQ4_1>("q4_1", quantize_row_q4_1, dequantize_row_q4_1, Parts::WideOnly); }
TEST(FormatsGolden, Q5_0) { check_golden<BlockQ5_0>("q5_0", quantize_row_q5_0, dequantize_row_q5_0, Parts::WideOnly); }
TEST(FormatsGolden, Q5_1) { check_golden<BlockQ5_1>("q5_1", quantize_row_q5_1, dequantize_row_q5_1, Parts::WideOnly); }
TEST(FormatsGolden, Q2_K) { check_golden<BlockQ2_K>("q2_K", quantize_row_q2_k, dequantize_row_q2_k, Parts::WideOnly); }
TEST(FormatsGolden, Q3_K) { check_golden<BlockQ3_K>("q3_K", quantize_row_q3_k, dequantize_row_q3_k, Parts::WideOnly); }
TEST(FormatsGolden, Q5_K) { check_golden<BlockQ5_K>("q5_K", quantize_row_q5_k, dequantize_row_q5_k, Parts::WideOnly); }

}  // namespace
}  // namespace trix::test
