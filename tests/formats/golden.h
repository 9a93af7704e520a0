// Loads the ggml golden vectors (../shared/testdata/ggml-golden, see its
// README.md): float inputs, quantized bytes and ggml's dequantized floats.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/shared_data.h"

namespace trix::test {

inline std::vector<float> read_floats(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// One golden input set: "main" is 4 rows x 1024, "special" 4 rows x 256,
// "wide" 64 rows x 4096 over eight distributions (see the README): ~1000
// K-quant blocks, enough to show a tie-breaking change that alters ~1% of
// blocks, which the ~20 blocks of the other two sets miss.
struct GoldenPart {
  const char* name;
  size_t rows;
  size_t cols;
};
inline constexpr GoldenPart kGoldenParts[] = {{"main", 4, 1024}, {"special", 4, 256}, {"wide", 64, 4096}};

}  // namespace trix::test

#define TRIX_GOLDEN_DIR "testdata/ggml-golden/"
