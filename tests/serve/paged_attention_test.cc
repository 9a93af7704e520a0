// paged_attention_group (flash-attention style over the paged KV cache)
// against the contiguous two-pass attention of the runtime
// (cpu::ops::attention_head over a KvCache-layout f16 array holding the same
// f16 values): GQA groups of 1 and 4, sequence lengths from 1 to 4096 across
// block boundaries, blocks in scrambled pool order. Only the order of float
// operations differs: |difference| <= 2e-5 * max|value| (values in [-1, 1]).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "trix/core/fp16.h"
#include "trix/cpu/ops.h"
#include "trix/serve/paged_attention.h"
#include "trix/serve/paged_kv.h"

namespace {

using trix::serve::BlockId;
using trix::serve::KvBlockPool;

struct Case {
  int64_t n_kv_heads, group, head_dim, block_size;
};

void check_lengths(const Case& c, const std::vector<int64_t>& lengths) {
  const int64_t max_len = *std::max_element(lengths.begin(), lengths.end());
  const int64_t n_blocks = (max_len + c.block_size - 1) / c.block_size;
  const int64_t kv_dim = c.n_kv_heads * c.head_dim;
  KvBlockPool pool(1, c.n_kv_heads, c.head_dim, {c.block_size, n_blocks + 3});
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  // Blocks in a scrambled order of the pool.
  std::vector<BlockId> table;
  for (int64_t i = 0; i < n_blocks + 3; ++i) table.push_back(pool.allocate());
  std::shuffle(table.begin(), table.end(), rng);
  // The contiguous layout of trix::KvCache: [pos][kv_head][head_dim].
  std::vector<uint16_t> keys(static_cast<size_t>(max_len * kv_dim)), values(keys.size());
  std::vector<float> k(static_cast<size_t>(kv_dim)), v(k.size());
  for (int64_t p = 0; p < max_len; ++p) {
    for (int64_t i = 0; i < kv_dim; ++i) {
      // Keys scaled up so the softmax is peaked for some positions.
      k[static_cast<size_t>(i)] = 3.0f * u(rng);
      v[static_cast<size_t>(i)] = u(rng);
      keys[static_cast<size_t>(p * kv_dim + i)] = trix::fp32_to_fp16(k[static_cast<size_t>(i)]);
      values[static_cast<size_t>(p * kv_dim + i)] = trix::fp32_to_fp16(v[static_cast<size_t>(i)]);
    }
    pool.store(table[static_cast<size_t>(p / c.block_size)], 0, p % c.block_size, k.data(), v.data());
  }
  const int64_t hd = c.head_dim;
  std::vector<float> q(static_cast<size_t>(c.group * hd));
  for (float& x : q) x = u(rng);
  std::vector<float> scratch(trix::serve::paged_attention_scratch(c.block_size, hd, c.group));
  std::vector<float> got(q.size()), want(static_cast<size_t>(hd)), scores(static_cast<size_t>(max_len));
  for (int64_t len : lengths) {
    for (int64_t kvh = 0; kvh < c.n_kv_heads; ++kvh) {
      trix::serve::paged_attention_group(pool, table.data(), 0, kvh, len, q.data(), c.group, got.data(),
                                         scratch.data());
      for (int64_t g = 0; g < c.group; ++g) {
        trix::cpu::ops::attention_head(q.data() + g * hd, keys.data() + kvh * hd, values.data() + kvh * hd,
                                       static_cast<size_t>(len), static_cast<size_t>(kv_dim),
                                       static_cast<size_t>(hd), scores.data(), want.data());
        for (int64_t e = 0; e < hd; ++e) {
          ASSERT_NEAR(got[static_cast<size_t>(g * hd + e)], want[static_cast<size_t>(e)], 2e-5f)
              << "len " << len << " kv head " << kvh << " head " << g << " element " << e;
        }
      }
    }
  }
}

TEST(PagedAttention, MatchesContiguousAttentionNoGqa) {
  check_lengths({2, 1, 64, 16}, {1, 2, 15, 16, 17, 33, 100, 511, 1000});
}

TEST(PagedAttention, MatchesContiguousAttentionGqaUpTo4096) {
  check_lengths({2, 4, 128, 16}, {1, 16, 17, 255, 1024, 2049, 4096});
}

TEST(PagedAttention, MatchesContiguousAttentionOddBlockSize) {
  check_lengths({1, 2, 8, 5}, {1, 4, 5, 6, 24, 26, 301});
}

}  // namespace
