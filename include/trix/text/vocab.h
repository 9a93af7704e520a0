// A tokenizer's vocabulary as llama.cpp's GGUF metadata describes it: token
// texts, scores and types, BPE merges, the pre-tokenizer, special ids and
// flags. Plain data, no file reading (gguf_vocab.h reads it from GGUF) and
// no encoding (spm.h, bpe.h, tokenizer.h).
#pragma once

#include <cstddef>
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

// Pre-tokenizer for byte-level BPE: one per distinct list of split patterns
// llama.cpp uses (pre_tokenizer.h holds the patterns and maps every
// tokenizer.ggml.pre name to one of these).
enum class PreTokenizer : uint8_t {
  Default,        // llama.cpp's "default" (also what an absent `pre` gets)
  Gpt2,           // gpt-2, mpt, olmo, jais, phi-2, jina-*, roberta-bpe, ...
  Llama3,         // llama3, llama-bpe, falcon3, dbrx, smaug-bpe, chatglm-bpe
  Qwen2,          // qwen2, deepseek-r1-qwen, megrez, stablelm2
  Starcoder,      // starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b
  Falcon,         // falcon
  DeepseekLlm,    // deepseek-llm
  DeepseekCoder,  // deepseek-coder
  Deepseek3Llm,   // deepseek-v3
  Bloom,          // bloom, poro-chat, gpt3-finnish
  Viking,         // viking
  Tekken,         // tekken
  Chameleon,      // chameleon
};
inline constexpr size_t kPreTokenizerCount = 13;

// Everything a tokenizer needs; tokenizer_vocab_from_gguf fills it from
// metadata, tests may build one by hand. Ids of -1 mean "none".
struct TokenizerVocab {
  TokenizerKind kind = TokenizerKind::Spm;
  std::vector<std::string> tokens;
  std::vector<float> scores;      // SPM; empty means all 0
  std::vector<TokenType> types;   // empty means all Normal
  std::vector<std::string> merges;  // BPE: "left right", rank = index
  PreTokenizer pre = PreTokenizer::Gpt2;
  bool ignore_merges = false;  // BPE: a pre-split piece that is a token stays whole
  int32_t bos = -1, eos = -1, unk = -1;
  int32_t eot = -1, eom = -1;  // end of turn / end of message (tokenizer.ggml.eot_token_id, eom_token_id)
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
