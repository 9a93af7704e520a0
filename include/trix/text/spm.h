// SentencePiece-style encoding (tokenizer.ggml.model "llama"), following
// llama.cpp's semantics: the text gets a leading space (when
// add_space_prefix, at the start and after each special token; the caller
// decides), spaces become U+2581, the text is split into UTF-8 characters,
// and adjacent pairs are merged greedily, always the pair whose
// concatenation is the highest-scoring vocabulary entry, leftmost on ties
// (llama2.c's encode and llama.cpp's SPM session compute the same thing).
// Characters that are not in the vocabulary fall back to their "<0xXX>"
// byte tokens, or to unk when the vocabulary has no such byte token.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trix/text/merge.h"
#include "trix/text/vocab.h"

namespace trix::detail {

// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's visible space.
inline constexpr std::string_view kSpmSpace = "\xe2\x96\x81";

class SpmEncoder {
 public:
  // No byte tokens: every unknown byte encodes as unk.
  SpmEncoder() { byte_to_id_.fill(-1); }

  // Finds the byte tokens of `v` (whose types hold one entry per token):
  // BYTE-typed "<0xXX>" tokens, lowest id first, then, for bytes still
  // without one, any token spelled "<0xXX>" with upper-case hex (vocabularies
  // without BYTE types still spell byte tokens so).
  SpmEncoder(const TokenizerVocab& v, const TokenIdMap& to_id) : SpmEncoder() {
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      if (v.types[i] != TokenType::Byte) continue;
      if (auto b = parse_byte_token(v.tokens[i])) {
        if (byte_to_id_[*b] < 0) byte_to_id_[*b] = static_cast<int32_t>(i);
      }
    }
    for (int b = 0; b < 256; ++b) {
      if (byte_to_id_[static_cast<size_t>(b)] >= 0) continue;
      static constexpr char kHex[] = "0123456789ABCDEF";
      const std::string s = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
      if (auto it = to_id.find(s); it != to_id.end()) byte_to_id_[static_cast<size_t>(b)] = it->second;
    }
  }

  // Appends the ids of `text`, which holds no special token. `v` and `to_id`
  // are the ones this encoder was built from; space_prefix puts U+2581 in
  // front.
  void encode(const TokenizerVocab& v, const TokenIdMap& to_id, std::string_view text,
              bool space_prefix, std::vector<int32_t>& out) const {
    std::string s;
    s.reserve(text.size() + kSpmSpace.size());
    if (space_prefix) s += kSpmSpace;
    for (char c : text) {
      if (c == ' ') {
        s += kSpmSpace;
      } else {
        s += c;
      }
    }
    std::vector<Symbol> sym = split_symbols(s);
    std::string key;
    merge_loop(sym, [&](const Symbol& l, const Symbol& r) -> std::optional<double> {
      key.assign(s, l.start, l.len + r.len);
      auto it = to_id.find(key);
      if (it == to_id.end()) return std::nullopt;
      return static_cast<double>(v.scores[static_cast<size_t>(it->second)]);
    });
    for (int32_t k = sym.empty() ? -1 : 0; k >= 0; k = sym[static_cast<size_t>(k)].next) {
      const Symbol& x = sym[static_cast<size_t>(k)];
      key.assign(s, x.start, x.len);
      if (auto it = to_id.find(key); it != to_id.end()) {
        out.push_back(it->second);
        continue;
      }
      for (size_t b = 0; b < x.len; ++b) {  // byte fallback
        const int32_t id = byte_to_id_[static_cast<uint8_t>(s[x.start + b])];
        if (id >= 0) {
          out.push_back(id);
        } else if (v.unk >= 0) {
          out.push_back(v.unk);
        }
      }
    }
  }

 private:
  std::array<int32_t, 256> byte_to_id_;
};

// The text a NORMAL (or UNDEFINED) token stands for: U+2581 -> space.
inline std::string spm_token_text(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (size_t k = 0; k < token.size(); ++k) {
    if (token.substr(k, kSpmSpace.size()) == kSpmSpace) {
      out += ' ';
      k += kSpmSpace.size() - 1;
    } else {
      out += token[k];
    }
  }
  return out;
}

}  // namespace trix::detail
