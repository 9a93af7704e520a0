// TRIN (seeds/003): write -> read round trip, the exact byte layout, and a
// precise trix::Error (file, tensor, byte offset) for every malformed case.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/inputs.h"
#include "trix/io/trin.h"

namespace trix::test {
namespace {

std::vector<int8_t> ternary_values(size_t n, uint64_t seed) {
  Lcg rng(seed);
  std::vector<int8_t> out(n);
  for (auto& v : out) v = static_cast<int8_t>(rng.ternary());
  return out;
}

// Shapes with rows * cols = 0 mod 4 and not (3 x 5: a padded last byte).
const std::vector<TrinTensorSpec> kSpecs = {
    {"layers.0.attn.q_proj", 8, 16, 0.5f}, {"layers.0.mlp.up_proj", 3, 5, 2.0f}, {"lm_head", 1, 4, 1.0f}};

std::vector<uint8_t> valid_file(std::vector<std::vector<int8_t>>* values = nullptr) {
  std::vector<std::vector<int8_t>> v;
  std::vector<TrinTensorView> views;
  for (size_t i = 0; i < kSpecs.size(); ++i) v.push_back(ternary_values(kSpecs[i].rows * kSpecs[i].cols, i + 1));
  for (size_t i = 0; i < kSpecs.size(); ++i) views.push_back({kSpecs[i].name, kSpecs[i].rows, kSpecs[i].cols, v[i]});
  if (values) *values = v;
  return encode_trin(views);
}

// Expects parse_trin to throw, with every fragment in the message.
void expect_error(const std::vector<uint8_t>& bytes, const std::vector<std::string>& fragments) {
  try {
    parse_trin(bytes, "model.trin", kSpecs);
    FAIL() << "no error for a malformed file";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.trin"), std::string::npos) << msg;
    for (const std::string& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

TEST(FormatsTrin, ByteLayout) {
  // Values -1, 0, +1, 0 | +1 -> codes 0,1,2,1 | 2 (padded with zero bits).
  const std::vector<int8_t> v = {-1, 0, 1, 0, 1};
  const TrinTensorView view{"w", 1, 5, v};
  const std::vector<uint8_t> bytes = encode_trin({&view, 1});
  const std::vector<uint8_t> expected = {'T', 'R', 'I', 'N', 2, 0, 0, 0, 0b00011001, 0b10000000};
  EXPECT_EQ(bytes, expected);
}

TEST(FormatsTrin, RoundTripThroughAFile) {
  std::vector<std::vector<int8_t>> values;
  const std::vector<uint8_t> bytes = valid_file(&values);
  std::vector<TrinTensorView> views;
  for (size_t i = 0; i < kSpecs.size(); ++i) views.push_back({kSpecs[i].name, kSpecs[i].rows, kSpecs[i].cols, values[i]});
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("trix_formats_trin_" + std::to_string(::getpid()) + ".trin");
  write_trin(path, views);
  const std::vector<TrinTensor> tensors = read_trin(path, kSpecs);
  std::filesystem::remove(path);
  ASSERT_EQ(tensors.size(), kSpecs.size());
  uint64_t offset = 4;
  for (size_t i = 0; i < kSpecs.size(); ++i) {
    EXPECT_EQ(tensors[i].spec.name, kSpecs[i].name);
    EXPECT_EQ(tensors[i].spec.scale, kSpecs[i].scale);
    EXPECT_EQ(tensors[i].file_offset, offset + 4);
    EXPECT_EQ(tensors[i].packed.size(), (kSpecs[i].rows * kSpecs[i].cols + 3) / 4);
    EXPECT_EQ(tensors[i].values(), values[i]);
    offset += 4 + tensors[i].packed.size();
  }
  EXPECT_EQ(offset, bytes.size());
  EXPECT_THROW(read_trin(path, kSpecs), Error);  // gone: cannot open, names the file
}

TEST(FormatsTrin, NoTensors) {
  const std::vector<uint8_t> magic_only = {'T', 'R', 'I', 'N'};
  EXPECT_TRUE(parse_trin(magic_only, "empty.trin", {}).empty());
}

TEST(FormatsTrin, WrongMagic) {
  std::vector<uint8_t> bytes = valid_file();
  bytes[3] = 'X';
  expect_error(bytes, {"byte offset 0", "TRIX", "magic"});
  expect_error({}, {"byte offset 0", "magic", "0-byte"});
  expect_error({'T', 'R'}, {"byte offset 0", "magic"});
  expect_error({0x00, 0xff, 'R', 'I'}, {"\\x00\\xff"});
}

TEST(FormatsTrin, TruncatedLengthPrefix) {
  std::vector<uint8_t> bytes = valid_file();
  bytes.resize(4 + 2);  // half of the first length
  expect_error(bytes, {"byte offset 4", "layers.0.attn.q_proj", "1 of 3", "length prefix", "2 left"});
  bytes = valid_file();
  bytes.resize(4 + 4 + 32 + 1);  // first tensor complete, 1 byte of the next length
  expect_error(bytes, {"byte offset 40", "layers.0.mlp.up_proj", "2 of 3", "1 left"});
}

TEST(FormatsTrin, LengthDisagreesWithShape) {
  std::vector<uint8_t> bytes = valid_file();
  bytes[4] = 31;  // 8 x 16 needs 32 bytes
  expect_error(bytes, {"byte offset 4", "layers.0.attn.q_proj", "says 31", "expected 32", "8 x 16"});
  bytes = valid_file();
  bytes[4 + 4 + 32] = 3;  // 3 x 5 = 15 weights need 4 bytes
  expect_error(bytes, {"byte offset 40", "layers.0.mlp.up_proj", "says 3", "expected 4"});
  bytes = valid_file();
  bytes[7] = 0x80;  // 2^31 + 32: the 32-bit length read little-endian
  expect_error(bytes, {"byte offset 4", "says 2147483680"});
}

TEST(FormatsTrin, TruncatedPayload) {
  std::vector<uint8_t> bytes = valid_file();
  bytes.resize(bytes.size() - 1);  // lm_head's single payload byte is missing
  expect_error(bytes, {"byte offset " + std::to_string(bytes.size()), "lm_head", "3 of 3", "need 1", "0 left"});
}

TEST(FormatsTrin, TrailingBytes) {
  std::vector<uint8_t> bytes = valid_file();
  const size_t end = bytes.size();
  bytes.push_back(0);
  bytes.push_back(0);
  expect_error(bytes, {"byte offset " + std::to_string(end), "2 trailing bytes", "lm_head"});
}

TEST(FormatsTrin, InvalidCode) {
  std::vector<uint8_t> bytes = valid_file();
  bytes[8 + 5] |= 0b00110000;  // weight 21 of the first tensor: code 3
  expect_error(bytes, {"byte offset 13", "layers.0.attn.q_proj", "weight 21", "code 3"});
  // Code 3 in the padding of the 3 x 5 tensor is ignored.
  bytes = valid_file();
  bytes[4 + 4 + 32 + 4 + 3] |= 0b00000011;
  EXPECT_NO_THROW(parse_trin(bytes, "model.trin", kSpecs));
}

TEST(FormatsTrin, WriterRejectsBadInput) {
  const std::vector<int8_t> two = {0, 2, 0, 0};
  const TrinTensorView bad_value{"w", 1, 4, two};
  EXPECT_THROW(encode_trin({&bad_value, 1}), Error);
  const TrinTensorView bad_count{"w", 2, 4, two};
  EXPECT_THROW(encode_trin({&bad_count, 1}), Error);
}

}  // namespace
}  // namespace trix::test
