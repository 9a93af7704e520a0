// KvBlockPool and block tables: allocation, reference counts, copy-on-write
// forks, the prefix cache and its LRU eviction.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "trix/core/fp16.h"
#include "trix/serve/paged_kv.h"

namespace {

using trix::serve::BlockTable;
using trix::serve::KvBlockPool;

KvBlockPool small_pool(int64_t n_blocks) { return KvBlockPool(2, 1, 4, {4, n_blocks}); }

// Stores position p of every layer with key = p + layer / 8 (exact in f16).
void fill(KvBlockPool& pool, const BlockTable& t, int64_t from, int64_t to) {
  for (int64_t p = from; p < to; ++p) {
    for (int64_t l = 0; l < pool.n_layers(); ++l) {
      std::vector<float> k(4, static_cast<float>(p) + static_cast<float>(l) / 8.0f), v(4, -static_cast<float>(p));
      pool.store(t.blocks[static_cast<size_t>(p / 4)], l, p % 4, k.data(), v.data());
    }
  }
}

float key_at(const KvBlockPool& pool, const BlockTable& t, int64_t layer, int64_t p) {
  return trix::fp16_to_fp32(pool.keys(t.blocks[static_cast<size_t>(p / 4)], layer)[(p % 4) * 4]);
}

TEST(KvBlockPool, AllocatesUntilEmptyAndReusesReleasedBlocks) {
  KvBlockPool pool = small_pool(3);
  EXPECT_EQ(pool.n_available(), 3);
  const auto a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_EQ(pool.n_used(), 3);
  pool.retain(b);
  pool.release(b);
  EXPECT_EQ(pool.n_available(), 0);
  pool.release(b);
  EXPECT_EQ(pool.n_available(), 1);
  EXPECT_EQ(pool.allocate(), b);
  EXPECT_THROW(pool.release(99), trix::Error);
  pool.release(a);
  EXPECT_THROW(pool.release(a), trix::Error);
  EXPECT_THROW(KvBlockPool(1, 1, 4, {0, 4}), trix::Error);
  EXPECT_THROW(KvBlockPool(1, 1, 4, {4, 0}), trix::Error);
}

TEST(KvBlockPool, ReserveFailsWithoutChangingTheTable) {
  KvBlockPool pool = small_pool(2);
  BlockTable t;
  EXPECT_TRUE(trix::serve::reserve_blocks(pool, t, 8));
  EXPECT_EQ(t.blocks.size(), 2u);
  EXPECT_FALSE(trix::serve::reserve_blocks(pool, t, 9));
  EXPECT_EQ(t.blocks.size(), 2u);
  trix::serve::free_blocks(pool, t);
  EXPECT_EQ(pool.n_available(), 2);
  EXPECT_TRUE(t.blocks.empty());
}

TEST(KvBlockPool, ForkSharesBlocksAndCopiesThePartialBlockOnWrite) {
  KvBlockPool pool = small_pool(8);
  BlockTable a;
  ASSERT_TRUE(trix::serve::reserve_blocks(pool, a, 6));
  fill(pool, a, 0, 6);
  a.n_tokens = 6;
  BlockTable b = trix::serve::fork_blocks(pool, a);
  EXPECT_EQ(pool.refs(a.blocks[0]), 2);
  EXPECT_EQ(pool.refs(a.blocks[1]), 2);
  EXPECT_EQ(trix::serve::blocks_needed(pool, b, 7), 1);  // the copy of block 1
  ASSERT_TRUE(trix::serve::reserve_blocks(pool, b, 7));
  EXPECT_EQ(b.blocks[0], a.blocks[0]);  // the full block stays shared
  EXPECT_NE(b.blocks[1], a.blocks[1]);
  EXPECT_EQ(pool.refs(a.blocks[1]), 1);
  // The copy holds a's positions 4, 5 of both layers; writing b leaves a alone.
  for (int64_t l = 0; l < 2; ++l) {
    EXPECT_EQ(key_at(pool, b, l, 5), 5.0f + static_cast<float>(l) / 8.0f);
  }
  std::vector<float> k(4, 100.0f);
  pool.store(b.blocks[1], 0, 2, k.data(), k.data());
  EXPECT_EQ(key_at(pool, b, 0, 6), 100.0f);
  EXPECT_EQ(key_at(pool, a, 0, 5), 5.0f);
  trix::serve::free_blocks(pool, a);
  trix::serve::free_blocks(pool, b);
  EXPECT_EQ(pool.n_available(), 8);
}

TEST(KvBlockPool, PrefixCacheReusesFullBlocksOfTheSameTokensOnly) {
  KvBlockPool pool = small_pool(8);
  std::vector<int32_t> tokens(10);
  std::iota(tokens.begin(), tokens.end(), 1);
  BlockTable a;
  ASSERT_TRUE(trix::serve::reserve_blocks(pool, a, 10));
  fill(pool, a, 0, 10);
  a.n_tokens = 10;
  trix::serve::publish_full_blocks(pool, a, tokens);
  EXPECT_EQ(a.n_published, 2);

  BlockTable b;  // same first 9 tokens: both full blocks match
  EXPECT_EQ(trix::serve::match_prefix(pool, b, tokens, 9), 8);
  EXPECT_EQ(b.blocks, std::vector<int32_t>(a.blocks.begin(), a.blocks.begin() + 2));
  EXPECT_EQ(pool.refs(a.blocks[0]), 2);
  BlockTable c;  // at most 7 positions wanted: one block
  EXPECT_EQ(trix::serve::match_prefix(pool, c, tokens, 7), 4);
  std::vector<int32_t> other = tokens;
  other[5] = 99;  // second block differs, so does everything after it
  BlockTable d;
  EXPECT_EQ(trix::serve::match_prefix(pool, d, other, 10), 4);
  other[0] = 98;  // the first block differs: no match, even though block 2's ids are equal to a's
  other[5] = tokens[5];
  BlockTable e;
  EXPECT_EQ(trix::serve::match_prefix(pool, e, other, 10), 0);
  for (BlockTable* t : {&a, &b, &c, &d, &e}) trix::serve::free_blocks(pool, *t);
  EXPECT_EQ(pool.n_cached(), 2);
  EXPECT_EQ(pool.n_available(), 8);
  // Released cached blocks still match.
  BlockTable f;
  EXPECT_EQ(trix::serve::match_prefix(pool, f, tokens, 10), 8);
  EXPECT_EQ(key_at(pool, f, 1, 7), 7.125f);
  trix::serve::free_blocks(pool, f);
}

TEST(KvBlockPool, CachedBlocksAreEvictedLeastRecentlyReleasedFirst) {
  KvBlockPool pool = small_pool(3);
  const std::vector<int32_t> x = {1, 2, 3, 4}, y = {5, 6, 7, 8};
  BlockTable a, b;
  ASSERT_TRUE(trix::serve::reserve_blocks(pool, a, 4));
  ASSERT_TRUE(trix::serve::reserve_blocks(pool, b, 4));
  a.n_tokens = b.n_tokens = 4;
  trix::serve::publish_full_blocks(pool, a, x);
  trix::serve::publish_full_blocks(pool, b, y);
  const auto block_a = a.blocks[0];
  trix::serve::free_blocks(pool, a);  // released first
  trix::serve::free_blocks(pool, b);
  EXPECT_EQ(pool.n_cached(), 2);
  // One never-used block, then the least recently released cached one (a's).
  BlockTable c;
  ASSERT_TRUE(trix::serve::reserve_blocks(pool, c, 8));
  EXPECT_EQ(c.blocks[1], block_a);
  EXPECT_EQ(pool.n_cached(), 1);
  BlockTable d;
  EXPECT_EQ(trix::serve::match_prefix(pool, d, x, 4), 0);  // evicted
  EXPECT_EQ(trix::serve::match_prefix(pool, d, y, 4), 4);  // still cached
  trix::serve::free_blocks(pool, c);
  trix::serve::free_blocks(pool, d);
}

}  // namespace
