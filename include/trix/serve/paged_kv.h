// Paged key/value cache for serving many sequences at once: one pool of
// fixed-size blocks (block_size token positions of every layer each), a
// block table per sequence, reference-counted blocks with copy-on-write
// (a fork for n > 1 samples shares every block and copies the partly filled
// last one when a branch first writes to it), and a prefix cache (a full
// block is keyed by a hash chained over the token ids of every block before
// it and its own, so equal keys mean equal tokens at equal positions; a
// block nobody references keeps its contents and its key until the pool is
// short, and is then reused least recently released first).
//
// Storage is f16 (IEEE half bits, rounded once on store like KvType::F16
// of trix/runtime/kv_cache.h). Block b, layer l holds block_size rows of
// kv_dim elements ([slot][kv_head][head_dim]) for keys and the same for
// values, so one block of one kv head is block_size rows head_dim apart in
// a kv_dim stride: a tile the attention kernel (trix/serve/paged_attention.h)
// widens once and uses for every query head of the group.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/fp16.h"

namespace trix::serve {

using BlockId = int32_t;

struct PagedKvOptions {
  int64_t block_size = 16;  // token positions per block
  int64_t n_blocks = 0;     // blocks in the pool, > 0
};

class KvBlockPool {
 public:
  KvBlockPool(int64_t n_layers, int64_t n_kv_heads, int64_t head_dim, PagedKvOptions opt)
      : n_layers_(n_layers), kv_dim_(n_kv_heads * head_dim), head_dim_(head_dim), opt_(opt) {
    if (n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0) {
      throw Error("paged kv: n_layers, n_kv_heads and head_dim must be > 0 (got " + std::to_string(n_layers) +
                  ", " + std::to_string(n_kv_heads) + ", " + std::to_string(head_dim) + ")");
    }
    if (opt.block_size <= 0 || opt.n_blocks <= 0 || opt.n_blocks > INT32_MAX) {
      throw Error("paged kv: block_size and n_blocks must be > 0 (got " + std::to_string(opt.block_size) +
                  ", " + std::to_string(opt.n_blocks) + ")");
    }
    const auto n = static_cast<size_t>(opt.n_blocks * block_elements());
    k_.assign(n, 0);
    v_.assign(n, 0);
    tokens_.assign(static_cast<size_t>(opt.n_blocks * opt.block_size), -1);
    meta_.resize(static_cast<size_t>(opt.n_blocks));
    free_.reserve(static_cast<size_t>(opt.n_blocks));
    for (int64_t b = opt.n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<BlockId>(b));
  }

  int64_t n_layers() const { return n_layers_; }
  int64_t kv_dim() const { return kv_dim_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t block_size() const { return opt_.block_size; }
  int64_t n_blocks() const { return opt_.n_blocks; }
  // Blocks some sequence references.
  int64_t n_used() const { return opt_.n_blocks - n_available(); }
  // Blocks allocate() can hand out now: never used or released ones, and
  // cached prefixes nobody references (evicted on demand).
  int64_t n_available() const { return static_cast<int64_t>(free_.size() + lru_.size()); }
  // Unreferenced blocks that still hold a cached prefix.
  int64_t n_cached() const { return static_cast<int64_t>(lru_.size()); }
  // Bytes of one token position (keys and values of every layer).
  int64_t bytes_per_token() const { return 2 * n_layers_ * kv_dim_ * 2; }

  // block_size rows of kv_dim f16 elements of `layer` in block `b`.
  uint16_t* keys(BlockId b, int64_t layer) { return k_.data() + offset(b, layer); }
  uint16_t* values(BlockId b, int64_t layer) { return v_.data() + offset(b, layer); }
  const uint16_t* keys(BlockId b, int64_t layer) const { return k_.data() + offset(b, layer); }
  const uint16_t* values(BlockId b, int64_t layer) const { return v_.data() + offset(b, layer); }

  // Stores one token's kv_dim key and value at slot `slot` of block `b`.
  void store(BlockId b, int64_t layer, int64_t slot, const float* k, const float* v) {
    uint16_t* kd = keys(b, layer) + slot * kv_dim_;
    uint16_t* vd = values(b, layer) + slot * kv_dim_;
    for (int64_t i = 0; i < kv_dim_; ++i) kd[i] = fp32_to_fp16(k[i]);
    for (int64_t i = 0; i < kv_dim_; ++i) vd[i] = fp32_to_fp16(v[i]);
  }

  // A block with one reference, or -1 when every block is referenced. Takes
  // a never-used or released block first, else evicts the least recently
  // released cached prefix.
  BlockId allocate() {
    BlockId b = -1;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else if (!lru_.empty()) {
      b = lru_.front();
      lru_.pop_front();
      Meta& m = meta_[static_cast<size_t>(b)];
      cache_.erase(m.hash);
      m.hashed = false;
      m.in_lru = false;
    } else {
      return -1;
    }
    meta_[static_cast<size_t>(b)].refs = 1;
    return b;
  }

  int32_t refs(BlockId b) const { return meta_.at(static_cast<size_t>(b)).refs; }
  void retain(BlockId b) { ++meta_[checked(b)].refs; }
  // Drops one reference; the last one returns the block to the pool (to the
  // cache when it holds a published prefix).
  void release(BlockId b) {
    Meta& m = meta_[checked(b)];
    if (m.refs <= 0) throw Error("paged kv: block " + std::to_string(b) + " released more often than held");
    if (--m.refs > 0) return;
    if (m.hashed) {
      m.lru = lru_.insert(lru_.end(), b);
      m.in_lru = true;
    } else {
      free_.push_back(b);
    }
  }

  // Copies the first n_slots positions of every layer of `from` into `to`.
  void copy(BlockId from, BlockId to, int64_t n_slots) {
    const auto n = static_cast<size_t>(n_slots * kv_dim_) * sizeof(uint16_t);
    for (int64_t l = 0; l < n_layers_; ++l) {
      std::memcpy(keys(to, l), keys(from, l), n);
      std::memcpy(values(to, l), values(from, l), n);
    }
  }

  // Key of a full block holding `tokens` after the blocks keyed `parent`
  // (0 for the first block): FNV-1a over the parent key and the ids.
  static uint64_t chain_hash(uint64_t parent, std::span<const int32_t> tokens) {
    uint64_t h = 1469598103934665603ull;
    const auto mix = [&h](uint64_t x) {
      for (int i = 0; i < 8; ++i) {
        h ^= (x >> (8 * i)) & 0xff;
        h *= 1099511628211ull;
      }
    };
    mix(parent);
    for (int32_t t : tokens) mix(static_cast<uint32_t>(t));
    return h == 0 ? 1 : h;
  }

  // The cached block keyed `hash` whose ids are `tokens` (compared, so a hash
  // collision is a miss), with one more reference; -1 when none.
  BlockId find_cached(uint64_t hash, std::span<const int32_t> tokens) {
    const auto it = cache_.find(hash);
    if (it == cache_.end()) return -1;
    const BlockId b = it->second;
    if (!std::equal(tokens.begin(), tokens.end(), tokens_.begin() + b * opt_.block_size)) return -1;
    Meta& m = meta_[static_cast<size_t>(b)];
    if (m.in_lru) {
      lru_.erase(m.lru);
      m.in_lru = false;
    }
    ++m.refs;
    return b;
  }

  // Offers the full block `b` (holding `tokens`) to the prefix cache under
  // `hash`. Ignored when the key is taken (another block computed the same
  // prefix) or `b` is already published.
  void publish(BlockId b, uint64_t hash, std::span<const int32_t> tokens) {
    Meta& m = meta_[checked(b)];
    if (m.hashed || cache_.count(hash) != 0) return;
    m.hashed = true;
    m.hash = hash;
    cache_.emplace(hash, b);
    std::copy(tokens.begin(), tokens.end(), tokens_.begin() + b * opt_.block_size);
  }

 private:
  struct Meta {
    int32_t refs = 0;
    bool hashed = false;
    bool in_lru = false;
    uint64_t hash = 0;
    std::list<BlockId>::iterator lru;
  };

  int64_t block_elements() const { return n_layers_ * opt_.block_size * kv_dim_; }
  size_t offset(BlockId b, int64_t layer) const {
    return static_cast<size_t>(b * block_elements() + layer * opt_.block_size * kv_dim_);
  }
  size_t checked(BlockId b) const {
    if (b < 0 || b >= opt_.n_blocks) {
      throw Error("paged kv: block " + std::to_string(b) + " out of range [0, " +
                  std::to_string(opt_.n_blocks) + ")");
    }
    return static_cast<size_t>(b);
  }

  int64_t n_layers_, kv_dim_, head_dim_;
  PagedKvOptions opt_;
  std::vector<uint16_t> k_, v_;
  std::vector<int32_t> tokens_;  // ids of published blocks, to confirm a hash hit
  std::vector<Meta> meta_;
  std::vector<BlockId> free_;
  std::list<BlockId> lru_;
  std::unordered_map<uint64_t, BlockId> cache_;
};

// The blocks of one sequence: position p is slot p % block_size of
// blocks[p / block_size]. n_published full blocks are in the prefix cache,
// the last of them keyed last_hash.
struct BlockTable {
  std::vector<BlockId> blocks;
  int64_t n_tokens = 0;
  int64_t n_published = 0;
  uint64_t last_hash = 0;
};

// Releases every block of `t` and empties it.
inline void free_blocks(KvBlockPool& pool, BlockTable& t) {
  for (BlockId b : t.blocks) pool.release(b);
  t = BlockTable{};
}

// A copy of `from` sharing all its blocks (one more reference each).
inline BlockTable fork_blocks(KvBlockPool& pool, const BlockTable& from) {
  for (BlockId b : from.blocks) pool.retain(b);
  return from;
}

// Blocks reserve_blocks would allocate to grow `t` to n_tokens positions.
inline int64_t blocks_needed(const KvBlockPool& pool, const BlockTable& t, int64_t n_tokens) {
  const int64_t bs = pool.block_size();
  int64_t need = (n_tokens + bs - 1) / bs - static_cast<int64_t>(t.blocks.size());
  if (need < 0) need = 0;
  // Writing into a shared, partly filled last block copies it first.
  if (t.n_tokens % bs != 0 && n_tokens > t.n_tokens && pool.refs(t.blocks.back()) > 1) ++need;
  return need;
}

// Makes positions [t.n_tokens, n_tokens) of `t` writable: allocates the
// blocks they fall in and replaces a shared, partly filled last block by a
// private copy (copy-on-write). Returns false, with `t` unchanged, when the
// pool is short. t.n_tokens is not changed (the caller sets it once the
// positions are stored).
inline bool reserve_blocks(KvBlockPool& pool, BlockTable& t, int64_t n_tokens) {
  if (blocks_needed(pool, t, n_tokens) > pool.n_available()) return false;
  const int64_t bs = pool.block_size();
  if (t.n_tokens % bs != 0 && n_tokens > t.n_tokens && pool.refs(t.blocks.back()) > 1) {
    const BlockId copy = pool.allocate();
    pool.copy(t.blocks.back(), copy, t.n_tokens % bs);
    pool.release(t.blocks.back());
    t.blocks.back() = copy;
  }
  while (static_cast<int64_t>(t.blocks.size()) * bs < n_tokens) t.blocks.push_back(pool.allocate());
  return true;
}

// Takes the longest run of cached full blocks that starts `tokens` and
// covers at most max_tokens positions into the empty table `t`; returns the
// positions it covers (a multiple of block_size).
inline int64_t match_prefix(KvBlockPool& pool, BlockTable& t, std::span<const int32_t> tokens,
                            int64_t max_tokens) {
  const int64_t bs = pool.block_size();
  while ((static_cast<int64_t>(t.blocks.size()) + 1) * bs <= max_tokens) {
    const auto block = tokens.subspan(t.blocks.size() * static_cast<size_t>(bs), static_cast<size_t>(bs));
    const uint64_t h = KvBlockPool::chain_hash(t.last_hash, block);
    const BlockId b = pool.find_cached(h, block);
    if (b < 0) break;
    t.blocks.push_back(b);
    t.last_hash = h;
  }
  t.n_published = static_cast<int64_t>(t.blocks.size());
  t.n_tokens = t.n_published * bs;
  return t.n_tokens;
}

// Offers every full block of `t` not yet offered to the prefix cache;
// `tokens` holds (at least) the ids at positions [0, t.n_tokens).
inline void publish_full_blocks(KvBlockPool& pool, BlockTable& t, std::span<const int32_t> tokens) {
  const int64_t bs = pool.block_size();
  while ((t.n_published + 1) * bs <= t.n_tokens) {
    const auto block = tokens.subspan(static_cast<size_t>(t.n_published * bs), static_cast<size_t>(bs));
    t.last_hash = KvBlockPool::chain_hash(t.last_hash, block);
    pool.publish(t.blocks[static_cast<size_t>(t.n_published)], t.last_hash, block);
    ++t.n_published;
  }
}

}  // namespace trix::serve
