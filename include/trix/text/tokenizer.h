// class Tokenizer: text <-> token ids for the tokenizer a GGUF file (or a
// hand-built TokenizerVocab) describes, following llama.cpp's semantics.
// The pieces live in their own headers:
//   vocab.h          the vocabulary types (TokenizerVocab, TokenType, ...)
//   gguf_vocab.h     reading a TokenizerVocab from GGUF metadata
//   spm.h            SentencePiece-style merges (tokenizer.ggml.model "llama")
//   bpe.h            byte-level BPE (tokenizer.ggml.model "gpt2")
//   pre_tokenizer.h  BPE's gpt2 / llama3 / smollm pre-splits
//   merge.h          the pair-merge loop spm.h and bpe.h share
// This facade validates the vocabulary, handles special tokens and BOS/EOS,
// and decodes.
//
// Special tokens (CONTROL / USER_DEFINED) are recognised in the input only
// when parse_special is set: left to right, the longest match wins at each
// position.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/text/bpe.h"
#include "trix/text/gguf_vocab.h"
#include "trix/text/spm.h"
#include "trix/text/vocab.h"

namespace trix {

struct DecodeOptions {
  // Print CONTROL tokens (e.g. "<s>") instead of dropping them.
  bool render_special = false;
  // SPM with add_space_prefix: drop the one leading space that encode adds,
  // so decode(encode(s)) == s. Turn off when decoding a continuation (a
  // later chunk of a stream), whose leading space is real.
  bool strip_space_prefix = true;
};

class Tokenizer {
 public:
  // Builds the tokenizer a GGUF file describes. Throws trix::Error naming the
  // key on bad tokenizer metadata (see tokenizer_vocab_from_gguf).
  static Tokenizer from_gguf(const GgufReader& r) {
    return Tokenizer(tokenizer_vocab_from_gguf(r), r.name());
  }

  // Builds from an explicit vocabulary. Throws on inconsistent sizes or ids.
  explicit Tokenizer(TokenizerVocab v, std::string name = "<tokenizer>")
      : v_(std::move(v)), name_(std::move(name)) {
    const size_t n = v_.tokens.size();
    if (n == 0) throw Error(name_ + ": empty vocabulary");
    if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      throw Error(name_ + ": vocabulary too large");
    }
    if (v_.scores.empty()) v_.scores.assign(n, 0.0f);
    if (v_.types.empty()) v_.types.assign(n, TokenType::Normal);
    if (v_.scores.size() != n || v_.types.size() != n) {
      throw Error(name_ + ": scores/types must have one entry per token (" + std::to_string(n) + ")");
    }
    for (int32_t* id : {&v_.bos, &v_.eos, &v_.unk}) {
      if (*id < -1 || *id >= static_cast<int32_t>(n)) {
        throw Error(name_ + ": special token id " + std::to_string(*id) + " out of range");
      }
    }
    to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const auto id = static_cast<int32_t>(i);
      to_id_.emplace(v_.tokens[i], id);
      const TokenType t = v_.types[i];
      if ((t == TokenType::Control || t == TokenType::UserDefined) && !v_.tokens[i].empty()) {
        specials_.push_back(id);
      }
    }
    // Longest first, so a scan takes the longest special at each position.
    std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
      return v_.tokens[static_cast<size_t>(a)].size() > v_.tokens[static_cast<size_t>(b)].size();
    });
    if (v_.kind == TokenizerKind::Spm) {
      spm_ = detail::SpmEncoder(v_, to_id_);
    } else {
      bpe_ = detail::BpeEncoder(v_, name_);
    }
  }

  TokenizerKind kind() const { return v_.kind; }
  size_t n_tokens() const { return v_.tokens.size(); }
  int32_t bos() const { return v_.bos; }
  int32_t eos() const { return v_.eos; }
  int32_t unk() const { return v_.unk; }
  bool add_bos() const { return v_.add_bos; }
  const TokenizerVocab& vocab() const { return v_; }
  const std::string& token_text(int32_t id) const { return v_.tokens[checked(id)]; }
  TokenType token_type(int32_t id) const { return v_.types[checked(id)]; }
  std::optional<int32_t> find_token(std::string_view text) const {
    auto it = to_id_.find(std::string(text));
    if (it == to_id_.end()) return std::nullopt;
    return it->second;
  }

  // Text -> ids. add_special adds BOS/EOS as the model asks (add_bos /
  // add_eos); parse_special turns special-token texts in `text` into their
  // ids instead of tokenizing them as text. Never throws on any input bytes
  // (invalid UTF-8 goes through byte fallback).
  std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                              bool parse_special = false) const {
    std::vector<int32_t> out;
    if (add_special && v_.add_bos && v_.bos >= 0) out.push_back(v_.bos);
    bool prev_special = true;  // the start counts as "after a special" for the space prefix
    size_t pos = 0;
    while (pos < text.size()) {
      size_t next = text.size();
      int32_t special = -1;
      if (parse_special) std::tie(next, special) = find_special(text, pos);
      if (next > pos) {
        encode_text(text.substr(pos, next - pos), prev_special, out);
        prev_special = false;
      }
      if (special >= 0) {
        out.push_back(special);
        prev_special = true;
        next += v_.tokens[static_cast<size_t>(special)].size();
      }
      pos = next;
    }
    if (add_special && v_.add_eos && v_.eos >= 0) out.push_back(v_.eos);
    return out;
  }

  // One token's bytes as they appear in text: U+2581 -> space (SPM), byte
  // tokens -> their byte, GPT-2 code points -> bytes (BPE), CONTROL ->
  // nothing unless render_special, UNKNOWN -> U+2585 as llama.cpp prints it.
  std::string token_to_piece(int32_t id, bool render_special = false) const {
    const size_t i = checked(id);
    const std::string& text = v_.tokens[i];
    switch (v_.types[i]) {
      case TokenType::Control:
        return render_special ? text : std::string();
      case TokenType::Unused:
        return {};
      case TokenType::Unknown:
        return "\xe2\x96\x85";
      case TokenType::UserDefined:
        return text;
      case TokenType::Byte:
        if (auto b = detail::parse_byte_token(text)) return std::string(1, static_cast<char>(*b));
        return text;
      default:
        break;
    }
    return v_.kind == TokenizerKind::Spm ? detail::spm_token_text(text) : detail::bpe_token_bytes(text);
  }

  // Ids -> text (see DecodeOptions). Throws on an id out of range.
  std::string decode(std::span<const int32_t> ids, const DecodeOptions& opt = {}) const {
    std::string out;
    bool first_text = true;
    for (int32_t id : ids) {
      std::string piece = token_to_piece(id, opt.render_special);
      const TokenType type = v_.types[checked(id)];
      if (first_text && !piece.empty() && type != TokenType::Control) {
        first_text = false;
        if (opt.strip_space_prefix && v_.kind == TokenizerKind::Spm && v_.add_space_prefix &&
            piece[0] == ' ' && type == TokenType::Normal) {
          piece.erase(0, 1);
        }
      }
      out += piece;
    }
    return out;
  }
  std::string decode(const std::vector<int32_t>& ids, const DecodeOptions& opt = {}) const {
    return decode(std::span<const int32_t>(ids), opt);
  }

 private:
  size_t checked(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= v_.tokens.size()) {
      throw Error(name_ + ": token id " + std::to_string(id) + " out of range [0, " +
                  std::to_string(v_.tokens.size()) + ")");
    }
    return static_cast<size_t>(id);
  }

  // First special token at or after `pos`: (its byte offset, id), or
  // (text.size(), -1).
  std::pair<size_t, int32_t> find_special(std::string_view text, size_t pos) const {
    if (specials_.empty()) return {text.size(), -1};
    for (size_t p = pos; p < text.size(); ++p) {
      for (int32_t id : specials_) {
        const std::string& s = v_.tokens[static_cast<size_t>(id)];
        if (s[0] == text[p] && text.compare(p, s.size(), s) == 0) return {p, id};
      }
    }
    return {text.size(), -1};
  }

  // One stretch of text between special tokens (or the input's ends).
  void encode_text(std::string_view text, bool prev_special, std::vector<int32_t>& out) const {
    if (v_.kind == TokenizerKind::Spm) {
      spm_.encode(v_, to_id_, text, v_.add_space_prefix && prev_special, out);
    } else {
      bpe_.encode(v_, to_id_, text, out);
    }
  }

  TokenizerVocab v_;
  std::string name_;
  detail::TokenIdMap to_id_;
  std::vector<int32_t> specials_;  // CONTROL / USER_DEFINED ids, longest text first
  detail::SpmEncoder spm_;  // the encoder v_.kind names; the other stays empty
  detail::BpeEncoder bpe_;
};

}  // namespace trix
