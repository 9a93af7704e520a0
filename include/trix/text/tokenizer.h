// class Tokenizer: text <-> token ids for the tokenizer a GGUF file (or a
// hand-built TokenizerVocab) describes, following llama.cpp's semantics.
// The pieces live in their own headers:
//   vocab.h          the vocabulary types (TokenizerVocab, TokenType, ...)
//   gguf_vocab.h     reading a TokenizerVocab from GGUF metadata
//   spm.h            SentencePiece-style merges (tokenizer.ggml.model "llama")
//   bpe.h            byte-level BPE (tokenizer.ggml.model "gpt2")
//   pre_tokenizer.h  BPE's pre-splits per tokenizer.ggml.pre (split_regex.h runs them)
//   merge.h          the pair-merge loop spm.h and bpe.h share
// This facade validates the vocabulary, handles special tokens and BOS/EOS,
// and decodes.
//
// Special tokens are cut out of the input before encoding, as llama.cpp
// does: USER_DEFINED always, CONTROL and UNKNOWN only when parse_special is
// set; longer special texts are cut first (see partition). llama.cpp's
// per-model lstrip/rstrip attributes are not applied.
//
// End of generation (is_eog / eog_ids), as llama.cpp's special_eog_ids: the
// eos, eot and eom ids the file names, and every token whose text is one of
// the end markers chat models use (kEogTexts: <|eot_id|>, <|end_of_text|>,
// <|eom_id|>, <|im_end|>, <end_of_turn>, ...) whatever its type, as
// llama.cpp does; "</s>" only when it is not a NORMAL token (in a BPE
// vocabulary a NORMAL "</s>" is HTML's closing tag).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/text/bpe.h"
#include "trix/text/gguf_vocab.h"
#include "trix/text/spm.h"
#include "trix/text/vocab.h"

namespace trix {

// Token texts that end generation (see the file comment).
inline constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|end_of_text|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
    "<|endoftext|>", "<EOT>", "_<EOT>", "<end_of_utterance>", "<|return|>", "<|call|>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",  // DeepSeek's, fullwidth bars
    "</s>",
};

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
  // Builds the tokenizer a GGUF file describes; `pre_override` names a
  // tokenizer.ggml.pre to use instead of the file's. Throws trix::Error
  // naming the key on bad tokenizer metadata (see tokenizer_vocab_from_gguf).
  static Tokenizer from_gguf(const GgufReader& r, std::string_view pre_override = {}) {
    return Tokenizer(tokenizer_vocab_from_gguf(r, pre_override), r.name());
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
    for (int32_t* id : {&v_.bos, &v_.eos, &v_.unk, &v_.eot, &v_.eom}) {
      if (*id < -1 || *id >= static_cast<int32_t>(n)) {
        throw Error(name_ + ": special token id " + std::to_string(*id) + " out of range");
      }
    }
    to_id_.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const auto id = static_cast<int32_t>(i);
      to_id_.emplace(v_.tokens[i], id);
      const TokenType t = v_.types[i];
      if ((t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) &&
          !v_.tokens[i].empty()) {
        specials_.push_back(id);
      }
    }
    for (int32_t id : {v_.eos, v_.eot, v_.eom}) {
      if (id >= 0) eog_.push_back(id);
    }
    for (std::string_view text : kEogTexts) {
      const auto it = to_id_.find(std::string(text));
      if (it == to_id_.end()) continue;
      if (text == "</s>" && v_.types[static_cast<size_t>(it->second)] == TokenType::Normal) continue;
      eog_.push_back(it->second);
    }
    std::sort(eog_.begin(), eog_.end());
    eog_.erase(std::unique(eog_.begin(), eog_.end()), eog_.end());
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
  // Whether sampling `id` ends generation (see the file comment); false for
  // ids out of range.
  bool is_eog(int32_t id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }
  // The end-of-generation ids, ascending (for GenerateOptions::stop_ids).
  const std::vector<int32_t>& eog_ids() const { return eog_; }
  const TokenizerVocab& vocab() const { return v_; }
  const std::string& token_text(int32_t id) const { return v_.tokens[checked(id)]; }
  TokenType token_type(int32_t id) const { return v_.types[checked(id)]; }
  std::optional<int32_t> find_token(std::string_view text) const {
    auto it = to_id_.find(std::string(text));
    if (it == to_id_.end()) return std::nullopt;
    return it->second;
  }

  // Text -> ids. add_special adds BOS/EOS as the model asks (add_bos /
  // add_eos); parse_special turns CONTROL / UNKNOWN token texts in `text`
  // into their ids instead of tokenizing them as text (USER_DEFINED texts
  // always are, as in llama.cpp). Never throws on any input bytes (invalid
  // UTF-8 goes through byte fallback).
  std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                              bool parse_special = false) const {
    std::vector<int32_t> out;
    if (add_special && v_.add_bos && v_.bos >= 0) out.push_back(v_.bos);
    bool prev_special = true;  // the start counts as "after a special" for the space prefix
    for (const Fragment& f : partition(text, parse_special)) {
      if (f.special >= 0) {
        out.push_back(f.special);
        prev_special = true;
      } else {
        encode_text(text.substr(f.offset, f.length), prev_special, out);
        prev_special = false;
      }
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

  // A stretch of the input: text to encode, or a special token's id.
  struct Fragment {
    size_t offset, length;
    int32_t special;  // -1 for text
  };

  // Splits `text` at special-token texts as llama.cpp does: for each special
  // token, longest text first (ties by id), every occurrence in the text
  // fragments left so far, left to right, becomes its own fragment.
  std::vector<Fragment> partition(std::string_view text, bool parse_special) const {
    std::vector<Fragment> frags, next;
    if (text.empty()) return frags;
    frags.push_back({0, text.size(), -1});
    for (int32_t id : specials_) {
      if (!parse_special && v_.types[static_cast<size_t>(id)] != TokenType::UserDefined) continue;
      const std::string& s = v_.tokens[static_cast<size_t>(id)];
      next.clear();
      for (const Fragment& f : frags) {
        if (f.special >= 0) {
          next.push_back(f);
          continue;
        }
        const std::string_view within = text.substr(0, f.offset + f.length);
        size_t pos = f.offset;
        for (size_t m; (m = within.find(s, pos)) != std::string_view::npos; pos = m + s.size()) {
          if (m > pos) next.push_back({pos, m - pos, -1});
          next.push_back({m, s.size(), id});
        }
        if (pos < within.size()) next.push_back({pos, within.size() - pos, -1});
      }
      frags.swap(next);
    }
    return frags;
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
  std::vector<int32_t> specials_;  // CONTROL / USER_DEFINED / UNKNOWN ids, longest text first
  std::vector<int32_t> eog_;       // end-of-generation ids, ascending
  detail::SpmEncoder spm_;  // the encoder v_.kind names; the other stays empty
  detail::BpeEncoder bpe_;
};

}  // namespace trix
