// The pair-merge loop both encoders share (spm.h: by vocabulary score, bpe.h:
// by merge rank): the working string is a linked list of symbols, each a
// byte range; the best adjacent pair (highest priority, leftmost on ties) is
// merged until no pair has a priority. A priority queue with lazy deletion
// keeps it at O(n log n) queue operations for n symbols.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

#include "trix/text/unicode.h"

namespace trix::detail {

// A symbol of the merge loop: a byte range of the working string, linked
// to its neighbours (-1: none). len == 0 marks a symbol merged into its left
// one.
struct Symbol {
  int32_t prev, next;
  size_t start, len;
};

// Appends a symbol covering [start, start + len) after the last one.
inline void push_symbol(std::vector<Symbol>& sym, size_t start, size_t len) {
  const auto idx = static_cast<int32_t>(sym.size());
  if (!sym.empty()) sym.back().next = idx;
  sym.push_back({idx - 1, -1, start, len});
}

// One symbol per UTF-8 character. Valid text splits as SentencePiece and
// llama.cpp split it; an invalid byte becomes a symbol of its own (llama.cpp
// would swallow the next bytes by the lead byte's announced length, which
// can tear a U+2581 apart), so byte fallback round-trips any input.
inline std::vector<Symbol> split_symbols(std::string_view s) {
  std::vector<Symbol> sym;
  for (size_t off = 0; off < s.size();) {
    const size_t len = unicode::utf8_decode(s.substr(off)).len;
    push_symbol(sym, off, len);
    off += len;
  }
  return sym;
}

struct MergeCandidate {
  double priority;  // higher merges first: score (SPM) or -rank (BPE)
  int32_t left;
  size_t len;  // combined length when queued, to detect stale entries
  bool operator<(const MergeCandidate& o) const {
    if (priority != o.priority) return priority < o.priority;
    return left > o.left;  // leftmost first on ties
  }
};

// Merges `sym` in place. priority_of(left, right) returns the pair's
// priority, or nullopt when the pair does not merge. Afterwards the live
// symbols are those reachable from sym[0] through next.
template <class Priority>
void merge_loop(std::vector<Symbol>& sym, Priority&& priority_of) {
  std::priority_queue<MergeCandidate> queue;
  auto consider = [&](int32_t l) {
    if (l < 0) return;
    const int32_t r = sym[static_cast<size_t>(l)].next;
    if (r < 0) return;
    if (auto p = priority_of(sym[static_cast<size_t>(l)], sym[static_cast<size_t>(r)])) {
      queue.push({*p, l, sym[static_cast<size_t>(l)].len + sym[static_cast<size_t>(r)].len});
    }
  };
  for (size_t k = 0; k + 1 < sym.size(); ++k) consider(static_cast<int32_t>(k));
  while (!queue.empty()) {
    const MergeCandidate c = queue.top();
    queue.pop();
    Symbol& left = sym[static_cast<size_t>(c.left)];
    if (left.len == 0 || left.next < 0) continue;
    Symbol& right = sym[static_cast<size_t>(left.next)];
    if (left.len + right.len != c.len) continue;  // a side changed since queued
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) sym[static_cast<size_t>(right.next)].prev = c.left;
    consider(left.prev);
    consider(c.left);
  }
}

}  // namespace trix::detail
