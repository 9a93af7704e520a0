// Tokenizers built from GGUF metadata, following llama.cpp's semantics.
//
//  * `llama` (SentencePiece-style): the text gets a leading space (when
//    add_space_prefix, at the start and after each special token), spaces
//    become U+2581, the text is split into UTF-8 characters, and adjacent
//    pairs are merged greedily, always the pair whose concatenation is the
//    highest-scoring vocabulary entry, leftmost on ties (llama2.c's encode
//    and llama.cpp's SPM session compute the same thing). Characters that
//    are not in the vocabulary fall back to their "<0xXX>" byte tokens.
//  * `gpt2` (byte-level BPE): the text is pre-split by the gpt2 or llama3
//    pattern (hand-written scanners; see unicode.h for the classification
//    limits), each chunk's bytes are mapped to printable code points with
//    GPT-2's byte-to-unicode table, and merges are applied by rank, lowest
//    first, leftmost on ties. llama3's pre-tokenizer keeps a chunk whole when
//    it is itself a token (llama.cpp's ignore_merges).
//
// Special tokens (CONTROL / USER_DEFINED) are recognised in the input only
// when parse_special is set: left to right, the longest match wins at each
// position.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/text/unicode.h"

namespace trix {

// llama.cpp's token types, as stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

enum class TokenizerKind { Spm, Bpe };

// Pre-tokenizer for byte-level BPE, from tokenizer.ggml.pre.
enum class PreTokenizer {
  Gpt2,    // "default", "gpt2", or absent
  Llama3,  // "llama-bpe", "llama3"
  Smollm,  // "smollm": every digit on its own, then gpt2
};

// Everything a tokenizer needs; from_gguf fills it from metadata, tests may
// build one by hand. Ids of -1 mean "none".
struct TokenizerVocab {
  TokenizerKind kind = TokenizerKind::Spm;
  std::vector<std::string> tokens;
  std::vector<float> scores;      // SPM; empty means all 0
  std::vector<TokenType> types;   // empty means all Normal
  std::vector<std::string> merges;  // BPE: "left right", rank = index
  PreTokenizer pre = PreTokenizer::Gpt2;
  int32_t bos = -1, eos = -1, unk = -1;
  bool add_bos = true;
  bool add_eos = false;
  bool add_space_prefix = true;  // SPM only
};

struct DecodeOptions {
  // Print CONTROL tokens (e.g. "<s>") instead of dropping them.
  bool render_special = false;
  // SPM with add_space_prefix: drop the one leading space that encode adds,
  // so decode(encode(s)) == s. Turn off when decoding a continuation (a
  // later chunk of a stream), whose leading space is real.
  bool strip_space_prefix = true;
};

namespace detail {

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

inline bool is_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// Splits `text` into chunks as the gpt2 / llama3 patterns do:
//  gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//  llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// Each alternative is tried in order at the current position, as a regex
// engine would; the chunks concatenate back to `text`.
inline std::vector<std::string_view> pre_split(std::string_view text, PreTokenizer pre) {
  using unicode::CharClass;
  struct Cp {
    uint32_t cp;
    CharClass cls;
    size_t off;
  };
  std::vector<Cp> cps;
  cps.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const auto d = unicode::utf8_decode(text.substr(off));
    cps.push_back({d.cp, unicode::classify(d.cp), off});
    off += d.len;
  }
  const size_t n = cps.size();
  auto byte_at = [&](size_t i) { return i < n ? cps[i].off : text.size(); };
  auto cls = [&](size_t i) { return i < n ? cps[i].cls : CharClass::Space; };
  auto is = [&](size_t i, CharClass c) { return i < n && cps[i].cls == c; };
  auto lower = [&](size_t i) -> uint32_t {
    if (i >= n) return 0;
    const uint32_t c = cps[i].cp;
    return (pre == PreTokenizer::Llama3 && c >= 'A' && c <= 'Z') ? c + 32 : c;
  };
  auto run = [&](size_t i, auto pred) {
    while (i < n && pred(i)) ++i;
    return i;
  };
  auto is_other = [&](size_t i) { return i < n && cps[i].cls == CharClass::Other; };

  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    // Contractions.
    if (cps[i].cp == '\'' && i + 1 < n) {
      const uint32_t a = lower(i + 1), b = lower(i + 2);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        end = i + 2;
      } else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        end = i + 3;
      }
    }
    if (end == i && pre == PreTokenizer::Llama3) {
      const CharClass c = cls(i);
      if (c == CharClass::Letter) {
        end = run(i, [&](size_t k) { return is(k, CharClass::Letter); });
      } else if (c != CharClass::Number && !is_newline(cps[i].cp) && is(i + 1, CharClass::Letter)) {
        end = run(i + 1, [&](size_t k) { return is(k, CharClass::Letter); });
      } else if (c == CharClass::Number) {
        end = i + 1;
        while (end < n && end < i + 3 && is(end, CharClass::Number)) ++end;
      } else {
        const size_t s = (cps[i].cp == ' ' && is_other(i + 1)) ? i + 1 : i;
        if (is_other(s)) {
          end = run(s, is_other);
          end = run(end, [&](size_t k) { return is_newline(cps[k].cp); });
        } else if (c == CharClass::Space) {
          const size_t ws_end = run(i, [&](size_t k) { return is(k, CharClass::Space); });
          size_t last_nl = n;
          for (size_t k = i; k < ws_end; ++k) {
            if (is_newline(cps[k].cp)) last_nl = k;
          }
          if (last_nl != n) {
            end = last_nl + 1;
          } else if (ws_end == n || ws_end - i == 1) {
            end = ws_end == n ? n : i + 1;
          } else {
            end = ws_end - 1;  // \s+(?!\S): leave one space for the next word
          }
        }
      }
    } else if (end == i) {  // gpt2, smollm
      const size_t s = (cps[i].cp == ' ' && i + 1 < n && cls(i + 1) != CharClass::Space) ? i + 1 : i;
      const CharClass c = cls(s);
      if (c == CharClass::Letter || c == CharClass::Number) {
        end = run(s, [&](size_t k) { return is(k, c); });
      } else if (c == CharClass::Other) {
        end = run(s, is_other);
      } else {  // whitespace
        const size_t ws_end = run(i, [&](size_t k) { return is(k, CharClass::Space); });
        if (ws_end == n || ws_end - i == 1) {
          end = ws_end == n ? n : i + 1;
        } else {
          end = ws_end - 1;
        }
      }
    }
    if (end == i) end = i + 1;  // unreachable by construction; guarantees progress
    out.push_back(text.substr(byte_at(i), byte_at(end) - byte_at(i)));
    i = end;
  }
  return out;
}

}  // namespace detail

class Tokenizer {
 public:
  // Builds the tokenizer a GGUF file describes. Throws trix::Error naming the
  // key on a missing vocabulary, mismatched array lengths, an unsupported
  // tokenizer.ggml.model / tokenizer.ggml.pre, or a special id out of range.
  static Tokenizer from_gguf(const GgufReader& r) {
    TokenizerVocab v;
    const std::string model = r.get_string("tokenizer.ggml.model");
    if (model == "llama") {
      v.kind = TokenizerKind::Spm;
    } else if (model == "gpt2") {
      v.kind = TokenizerKind::Bpe;
    } else {
      throw Error(r.name() + ": metadata key 'tokenizer.ggml.model' = \"" + model +
                  "\": unsupported (expected \"llama\" or \"gpt2\")");
    }
    v.tokens = r.get_array<std::string>("tokenizer.ggml.tokens");
    const size_t n = v.tokens.size();
    if (auto s = r.find_array<float>("tokenizer.ggml.scores")) {
      if (s->size() != n) throw length_mismatch(r, "tokenizer.ggml.scores", s->size(), n);
      v.scores = std::move(*s);
    }
    if (auto t = r.find_array<int32_t>("tokenizer.ggml.token_type")) {
      if (t->size() != n) throw length_mismatch(r, "tokenizer.ggml.token_type", t->size(), n);
      v.types.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        const int32_t x = (*t)[i];
        if (x < 0 || x > 6) {
          throw Error(r.name() + ": metadata key 'tokenizer.ggml.token_type': item " +
                      std::to_string(i) + " is " + std::to_string(x) + " (expected 0..6)");
        }
        v.types.push_back(static_cast<TokenType>(x));
      }
    }
    if (v.kind == TokenizerKind::Bpe) {
      v.merges = r.get_array<std::string>("tokenizer.ggml.merges");
      const std::string pre = r.find_string("tokenizer.ggml.pre").value_or("default");
      if (pre == "default" || pre == "gpt2") {
        v.pre = PreTokenizer::Gpt2;
      } else if (pre == "llama-bpe" || pre == "llama3") {
        v.pre = PreTokenizer::Llama3;
      } else if (pre == "smollm") {
        v.pre = PreTokenizer::Smollm;
      } else {
        throw Error(r.name() + ": metadata key 'tokenizer.ggml.pre' = \"" + pre +
                    "\": unsupported (expected default, gpt2, llama-bpe, llama3 or smollm)");
      }
      v.add_bos = v.pre == PreTokenizer::Llama3;
      v.add_space_prefix = false;
    } else {
      v.bos = 1, v.eos = 2, v.unk = 0;  // llama.cpp's SPM defaults
    }
    auto special = [&](const char* key, int32_t& id) {
      const GgufValue* val = r.find(key);
      if (!val) return;
      const auto x = val->as<int64_t>();
      if (!x) throw Error(r.name() + ": metadata key '" + key + "': expected an integer token id");
      // -1, stored as u32 0xFFFFFFFF by llama.cpp's converters, means "none".
      if (*x == -1 || *x == 0xFFFFFFFFll) {
        id = -1;
        return;
      }
      if (*x < 0 || static_cast<uint64_t>(*x) >= n) {
        throw Error(r.name() + ": metadata key '" + key + "' = " + std::to_string(*x) +
                    " is not a token id (vocabulary has " + std::to_string(n) + " tokens)");
      }
      id = static_cast<int32_t>(*x);
    };
    special("tokenizer.ggml.bos_token_id", v.bos);
    special("tokenizer.ggml.eos_token_id", v.eos);
    special("tokenizer.ggml.unknown_token_id", v.unk);
    if (auto b = r.find_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
    if (auto b = r.find_bool("tokenizer.ggml.add_eos_token")) v.add_eos = *b;
    if (auto b = r.find_bool("tokenizer.ggml.add_space_prefix")) v.add_space_prefix = *b;
    return Tokenizer(std::move(v), r.name());
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
    byte_to_id_.fill(-1);
    for (size_t i = 0; i < n; ++i) {
      const auto id = static_cast<int32_t>(i);
      to_id_.emplace(v_.tokens[i], id);
      const TokenType t = v_.types[i];
      if ((t == TokenType::Control || t == TokenType::UserDefined) && !v_.tokens[i].empty()) {
        specials_.push_back(id);
      }
      if (t == TokenType::Byte) {
        if (auto b = parse_byte_token(v_.tokens[i])) {
          if (byte_to_id_[*b] < 0) byte_to_id_[*b] = id;
        }
      }
    }
    // Longest first, so a scan takes the longest special at each position.
    std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
      return v_.tokens[static_cast<size_t>(a)].size() > v_.tokens[static_cast<size_t>(b)].size();
    });
    if (v_.kind == TokenizerKind::Spm) {
      // Vocabularies without BYTE types still spell byte tokens "<0xXX>".
      for (int b = 0; b < 256; ++b) {
        if (byte_to_id_[static_cast<size_t>(b)] >= 0) continue;
        static constexpr char kHex[] = "0123456789ABCDEF";
        const std::string s = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
        if (auto it = to_id_.find(s); it != to_id_.end()) byte_to_id_[static_cast<size_t>(b)] = it->second;
      }
    } else {
      merge_rank_.reserve(v_.merges.size());
      for (size_t i = 0; i < v_.merges.size(); ++i) {
        const std::string& m = v_.merges[i];
        const size_t sp = m.find(' ', 1);
        if (sp == std::string::npos || sp + 1 >= m.size()) {
          throw Error(name_ + ": merge " + std::to_string(i) + " \"" + m +
                      "\" is not of the form \"left right\"");
        }
        merge_rank_.emplace(m.substr(0, sp) + '\x01' + m.substr(sp + 1), static_cast<int32_t>(i));
      }
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
        if (auto b = parse_byte_token(text)) return std::string(1, static_cast<char>(*b));
        return text;
      default:
        break;
    }
    if (v_.kind == TokenizerKind::Spm) {
      std::string out;
      out.reserve(text.size());
      for (size_t k = 0; k < text.size(); ++k) {
        if (text.compare(k, 3, "\xe2\x96\x81") == 0) {
          out += ' ';
          k += 2;
        } else {
          out += text[k];
        }
      }
      return out;
    }
    std::string out;
    for (size_t k = 0; k < text.size();) {
      const auto d = unicode::utf8_decode(std::string_view(text).substr(k));
      const int b = detail::codepoint_to_byte(d.cp);
      if (b >= 0 && d.cp != 0xFFFD) {
        out += static_cast<char>(b);
      } else {
        out.append(text, k, d.len);  // not a mapped byte: keep as written
      }
      k += d.len;
    }
    return out;
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
  static Error length_mismatch(const GgufReader& r, const char* key, size_t got, size_t want) {
    return Error(r.name() + ": metadata key '" + key + "' has " + std::to_string(got) +
                 " items, expected one per token (" + std::to_string(want) + ")");
  }

  size_t checked(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= v_.tokens.size()) {
      throw Error(name_ + ": token id " + std::to_string(id) + " out of range [0, " +
                  std::to_string(v_.tokens.size()) + ")");
    }
    return static_cast<size_t>(id);
  }

  static std::optional<uint8_t> parse_byte_token(std::string_view s) {
    if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = hex(s[3]), lo = hex(s[4]);
    if (hi < 0 || lo < 0) return std::nullopt;
    return static_cast<uint8_t>(hi * 16 + lo);
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

  void encode_text(std::string_view text, bool prev_special, std::vector<int32_t>& out) const {
    if (v_.kind == TokenizerKind::Spm) {
      std::string escaped;
      escaped.reserve(text.size() + 3);
      if (v_.add_space_prefix && prev_special) escaped += "\xe2\x96\x81";
      for (char c : text) {
        if (c == ' ') {
          escaped += "\xe2\x96\x81";
        } else {
          escaped += c;
        }
      }
      encode_spm(escaped, out);
      return;
    }
    std::vector<std::string_view> chunks;
    if (v_.pre == PreTokenizer::Smollm) {
      // \p{N} first: each digit is its own chunk; the rest goes through gpt2.
      size_t start = 0;
      for (size_t k = 0; k < text.size();) {
        const auto d = unicode::utf8_decode(text.substr(k));
        if (unicode::classify(d.cp) == unicode::CharClass::Number) {
          for (auto c : detail::pre_split(text.substr(start, k - start), PreTokenizer::Gpt2)) {
            chunks.push_back(c);
          }
          chunks.push_back(text.substr(k, d.len));
          start = k + d.len;
        }
        k += d.len;
      }
      for (auto c : detail::pre_split(text.substr(start), PreTokenizer::Gpt2)) chunks.push_back(c);
    } else {
      chunks = detail::pre_split(text, v_.pre);
    }
    for (std::string_view chunk : chunks) encode_bpe_chunk(chunk, out);
  }

  // A symbol of the merge loop: a byte range of the working string, linked
  // to its neighbours. len == 0 marks a symbol merged into its left one.
  struct Symbol {
    int32_t prev, next;
    size_t start, len;
  };
  struct Candidate {
    double priority;  // higher merges first: score (SPM) or -rank (BPE)
    int32_t left;
    size_t len;  // combined length when queued, to detect stale entries
    bool operator<(const Candidate& o) const {
      if (priority != o.priority) return priority < o.priority;
      return left > o.left;  // leftmost first on ties
    }
  };

  template <class Priority>
  static void merge_loop(std::vector<Symbol>& sym, Priority&& priority_of) {
    std::priority_queue<Candidate> queue;
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
      const Candidate c = queue.top();
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

  // One symbol per UTF-8 character. Valid text splits as SentencePiece and
  // llama.cpp split it; an invalid byte becomes a symbol of its own (llama.cpp
  // would swallow the next bytes by the lead byte's announced length, which
  // can tear a U+2581 apart), so byte fallback round-trips any input.
  static std::vector<Symbol> split_symbols(std::string_view s) {
    std::vector<Symbol> sym;
    for (size_t off = 0; off < s.size();) {
      const size_t len = unicode::utf8_decode(s.substr(off)).len;
      const auto idx = static_cast<int32_t>(sym.size());
      sym.push_back({idx - 1, idx + 1, off, len});
      off += len;
    }
    if (!sym.empty()) sym.back().next = -1;
    return sym;
  }

  void encode_spm(const std::string& s, std::vector<int32_t>& out) const {
    std::vector<Symbol> sym = split_symbols(s);
    std::string key;
    merge_loop(sym, [&](const Symbol& l, const Symbol& r) -> std::optional<double> {
      key.assign(s, l.start, l.len + r.len);
      auto it = to_id_.find(key);
      if (it == to_id_.end()) return std::nullopt;
      return static_cast<double>(v_.scores[static_cast<size_t>(it->second)]);
    });
    for (int32_t k = sym.empty() ? -1 : 0; k >= 0; k = sym[static_cast<size_t>(k)].next) {
      const Symbol& x = sym[static_cast<size_t>(k)];
      key.assign(s, x.start, x.len);
      if (auto it = to_id_.find(key); it != to_id_.end()) {
        out.push_back(it->second);
        continue;
      }
      for (size_t b = 0; b < x.len; ++b) {  // byte fallback
        const int32_t id = byte_to_id_[static_cast<uint8_t>(s[x.start + b])];
        if (id >= 0) {
          out.push_back(id);
        } else if (v_.unk >= 0) {
          out.push_back(v_.unk);
        }
      }
    }
  }

  void encode_bpe_chunk(std::string_view chunk, std::vector<int32_t>& out) const {
    // Work on the byte-to-unicode mapped text, one symbol per input byte.
    std::string mapped;
    std::vector<Symbol> sym;
    const auto& b2c = detail::byte_to_codepoint();
    for (char c : chunk) {
      const size_t start = mapped.size();
      unicode::utf8_append(mapped, b2c[static_cast<uint8_t>(c)]);
      const auto idx = static_cast<int32_t>(sym.size());
      sym.push_back({idx - 1, idx + 1, start, mapped.size() - start});
    }
    if (sym.empty()) return;
    sym.back().next = -1;
    if (v_.pre == PreTokenizer::Llama3) {
      if (auto it = to_id_.find(mapped); it != to_id_.end()) {
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
      if (auto it = to_id_.find(key); it != to_id_.end()) {
        out.push_back(it->second);
        continue;
      }
      // A merge result missing from the vocabulary (a broken file): fall
      // back to one token per byte, or unk.
      for (size_t off = x.start; off < x.start + x.len;) {
        const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(mapped[off])),
                                    x.start + x.len - off);
        key.assign(mapped, off, len);
        if (auto it = to_id_.find(key); it != to_id_.end()) {
          out.push_back(it->second);
        } else if (v_.unk >= 0) {
          out.push_back(v_.unk);
        }
        off += len;
      }
    }
  }

  TokenizerVocab v_;
  std::string name_;
  std::unordered_map<std::string, int32_t> to_id_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // "left\x01right" -> rank
  std::array<int32_t, 256> byte_to_id_{};
  std::vector<int32_t> specials_;
};

}  // namespace trix
