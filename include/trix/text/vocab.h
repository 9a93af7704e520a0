// A tokenizer's vocabulary as llama.cpp's GGUF metadata describes it: token
// texts, scores and types, BPE merges, the pre-tokenizer, special ids and
// flags. Plain data, no file reading (gguf_vocab.h reads it from GGUF) and
// no encoding (spm.h, bpe.h, tokenizer.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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

// Everything a tokenizer needs; tokenizer_vocab_from_gguf fills it from
// metadata, tests may build one by hand. Ids of -1 mean "none".
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

namespace detail {

// Token text -> id; when two tokens share a text, the lowest id wins.
using TokenIdMap = std::unordered_map<std::string, int32_t>;

// The byte a byte token spells ("<0xXX>", hex digits in either case), or
// nullopt for any other text.
inline std::optional<uint8_t> parse_byte_token(std::string_view s) {
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

}  // namespace detail
}  // namespace trix
