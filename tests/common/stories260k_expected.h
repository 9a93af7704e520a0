// What ../shared/models/stories260K/README.md says of the model: its
// hyper-parameters, and what it writes greedy from BOS (the first 61 token
// ids and their text). One copy for every test.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace trix::test {

inline const std::vector<int32_t> kStories260kGreedyIds = {
    403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338,
    401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385,
    328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267,
    337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426};

inline constexpr const char* kStories260kGreedyText =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.";

// The README's hyper-parameters, as any loader's config (a type with these
// fields) must hold them.
template <class Config>
void expect_stories260k_config(const Config& c) {
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.ffn_hidden, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.context_length, 512);
  EXPECT_TRUE(c.tied_output);
}

}  // namespace trix::test
