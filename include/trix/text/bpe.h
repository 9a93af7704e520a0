// Byte-level BPE encoding (tokenizer.ggml.model "gpt2"), following
// llama.cpp's semantics: the text is pre-split (pre_tokenizer.h), each
// chunk's bytes are mapped to printable code points with GPT-2's
// byte-to-unicode table, and merges are applied by rank, lowest first,
// leftmost on ties. With ignore_merges (llama3, tekken) a chunk that is
// itself a token stays whole. Decoding maps the code points
// back to bytes.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "trix/core/error.h"
#include "trix/text/merge.h"
#include "trix/text/pre_tokenizer.h"
#include "trix/text/unicode.h"
#include "trix/text/vocab.h"

namespace trix::detail {

// GPT-2's byte-to-unicode table: printable Latin-1 bytes map to themselves,
// the other 68 bytes to U+0100.. in byte order.
inline const std::array<uint32_t, 256>& byte_to_codepoint() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

// Inverse of byte_to_codepoint: code point -> byte, or -1.
inline int codepoint_to_byte(uint32_t cp) {
  static const std::array<int16_t, 324> table = [] {
    std::array<int16_t, 324> t{};
    t.fill(-1);
    const auto& fwd = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) t[fwd[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

class BpeEncoder {
 public:
  // No merges: every chunk encodes byte by byte.
  BpeEncoder() = default;

  // Ranks v.merges ("left right", rank = index). Throws trix::Error naming
  // `name` and the merge when one is not of that form.
  BpeEncoder(const TokenizerVocab& v, const std::string& name) {
    merge_rank_.reserve(v.merges.size());
    for (size_t i = 0; i < v.merges.size(); ++i) {
      const std::string& m = v.merges[i];
      const size_t sp = m.find(' ', 1);
      if (sp == std::string::npos || sp + 1 >= m.size()) {
        throw Error(name + ": merge " + std::to_string(i) + " \"" + m +
                    "\" is not of the form \"left right\"");
      }
      merge_rank_.emplace(m.substr(0, sp) + '\x01' + m.substr(sp + 1), static_cast<int32_t>(i));
    }
  }

  // Appends the ids of `text`, which holds no special token. `v` and `to_id`
  // are the ones this encoder was built from.
  void encode(const TokenizerVocab& v, const TokenIdMap& to_id, std::string_view text,
              std::vector<int32_t>& out) const {
    for (std::string_view chunk : pre_split(text, v.pre)) encode_chunk(v, to_id, chunk, out);
  }

 private:
  void encode_chunk(const TokenizerVocab& v, const TokenIdMap& to_id, std::string_view chunk,
                    std::vector<int32_t>& out) const {
    // Work on the byte-to-unicode mapped text, one symbol per input byte.
    std::string mapped;
    std::vector<Symbol> sym;
    const auto& b2c = byte_to_codepoint();
    for (char c : chunk) {
      const size_t start = mapped.size();
      unicode::utf8_append(mapped, b2c[static_cast<uint8_t>(c)]);
      push_symbol(sym, start, mapped.size() - start);
    }
    if (sym.empty()) return;
    if (v.ignore_merges) {
      if (auto it = to_id.find(mapped); it != to_id.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::string key;
    merge_loop(sym, [&](const Symbol& l, const Symbol& r) -> std::optional<double> {
      key.assign(mapped, l.start, l.len);
      key += '\x01';
      key.append(mapped, r.start, r.len);
      auto it = merge_rank_.find(key);
      if (it == merge_rank_.end()) return std::nullopt;
      return -static_cast<double>(it->second);
    });
    for (int32_t k = 0; k >= 0; k = sym[static_cast<size_t>(k)].next) {
      const Symbol& x = sym[static_cast<size_t>(k)];
      key.assign(mapped, x.start, x.len);
      if (auto it = to_id.find(key); it != to_id.end()) {
        out.push_back(it->second);
        continue;
      }
      // A merge result missing from the vocabulary (a broken file): fall
      // back to one token per byte, or unk.
      for (size_t off = x.start; off < x.start + x.len;) {
        const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(mapped[off])),
                                    x.start + x.len - off);
        key.assign(mapped, off, len);
        if (auto it = to_id.find(key); it != to_id.end()) {
          out.push_back(it->second);
        } else if (v.unk >= 0) {
          out.push_back(v.unk);
        }
        off += len;
      }
    }
  }

  std::unordered_map<std::string, int32_t> merge_rank_;  // "left\x01right" -> rank
};

// The bytes a NORMAL (or UNDEFINED) token stands for: GPT-2 code points ->
// bytes; a code point outside the table (or invalid UTF-8) is kept as
// written.
inline std::string bpe_token_bytes(std::string_view token) {
  std::string out;
  for (size_t k = 0; k < token.size();) {
    const auto d = unicode::utf8_decode(token.substr(k));
    const int b = codepoint_to_byte(d.cp);
    if (b >= 0 && d.cp != 0xFFFD) {
      out += static_cast<char>(b);
    } else {
      out += token.substr(k, d.len);
    }
    k += d.len;
  }
  return out;
}

}  // namespace trix::detail
