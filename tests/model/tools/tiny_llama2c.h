// A tiny llama2.c checkpoint (dim 4, 1 layer, 2 heads, 1 kv head) and
// tokenizer.bin, made in memory. Shared by llama2c_test and the tool tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace trix::test {

// A tiny checkpoint; a negative vocab_field means a separate classifier (as
// in llama2.c), whose weights with_wcls appends. Weight i holds float(i).
inline std::vector<uint8_t> tiny_checkpoint(int32_t vocab_field, bool with_wcls) {
  const int32_t h[7] = {4, 6, 1, 2, 1, vocab_field, 3};  // dim 4, head 2, kv_dim 2
  std::vector<uint8_t> b(sizeof h);
  std::memcpy(b.data(), h, sizeof h);
  const int32_t V = vocab_field < 0 ? -vocab_field : vocab_field;
  const size_t n = static_cast<size_t>(V * 4 + 4 + 16 + 8 + 8 + 16 + 4 + 24 + 24 + 24 + 4 + 2 * 3 * 1 +
                                       (with_wcls ? V * 4 : 0));
  for (size_t i = 0; i < n; ++i) {
    const float f = static_cast<float>(i);
    const auto* p = reinterpret_cast<const uint8_t*>(&f);
    b.insert(b.end(), p, p + 4);
  }
  return b;
}

inline std::vector<uint8_t> tiny_tokenizer(int32_t n) {
  std::vector<uint8_t> b(4, 0);
  b[0] = 8;
  for (int32_t i = 0; i < n; ++i) {
    const float score = -static_cast<float>(i);
    // Appended, not "t" + to_string(i): GCC 12 -O3 flags that with a false -Wrestrict.
    std::string text = "a b";
    if (i != 3) {
      text = "t";
      text += std::to_string(i);
    }
    const auto len = static_cast<int32_t>(text.size());
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(&score), reinterpret_cast<const uint8_t*>(&score) + 4);
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(&len), reinterpret_cast<const uint8_t*>(&len) + 4);
    b.insert(b.end(), text.begin(), text.end());
  }
  return b;
}

}  // namespace trix::test
