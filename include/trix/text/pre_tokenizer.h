// Pre-tokenizers for byte-level BPE: split text into the pieces that BPE
// merges never cross, as llama.cpp does for each tokenizer.ggml.pre name.
// A pre-tokenizer is data: a list of split patterns applied in turn (each
// splits every piece the previous one left into its matches and the runs
// between them), run by SplitRegex (split_regex.h). The patterns are the
// ones llama.cpp lists in src/llama-vocab.cpp (taken from each model's
// tokenizer.json); kPreTokenizerNames maps every `pre` name llama.cpp
// accepts to one of them plus the flags it sets.
//
// Pieces keep the input's bytes: invalid UTF-8 is classed as U+FFFD (a
// symbol) but not replaced, so encoding stays lossless (llama.cpp replaces
// it with U+FFFD's bytes; the two differ only on invalid UTF-8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "trix/text/split_regex.h"
#include "trix/text/unicode.h"
#include "trix/text/vocab.h"

namespace trix::detail {

// GPT-2's pattern, which several pre-tokenizers end with.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// LLaMA 3's pattern as llama.cpp adapted it (no (?i:...)); Qwen2's differs
// only in splitting digits one by one.
inline constexpr std::string_view kLlama3Pattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2Pattern =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kBloomPattern = R"( ?[^(\s|.,!?…。，、।۔،)]+)";
inline constexpr std::string_view kCjkHangulPattern = R"([一-龥ࠀ-一가-퟿]+)";

// The split patterns of each PreTokenizer, in the enum's order.
inline constexpr std::string_view kDefaultPatterns[] = {
    R"([\p{P}\$\+<=>\^~\|]+)", kGpt2Pattern, R"(\p{N}+)", R"([0-9][0-9][0-9])"};
inline constexpr std::string_view kGpt2Patterns[] = {kGpt2Pattern};
inline constexpr std::string_view kLlama3Patterns[] = {kLlama3Pattern};
inline constexpr std::string_view kQwen2Patterns[] = {kQwen2Pattern};
inline constexpr std::string_view kStarcoderPatterns[] = {R"(\p{N})", kGpt2Pattern};
inline constexpr std::string_view kFalconPatterns[] = {
    R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2Pattern, R"([0-9][0-9][0-9])"};
inline constexpr std::string_view kDeepseekLlmPatterns[] = {
    R"([\r\n])",
    R"(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)",
    R"(\s?[!-/:-~！-／：-～‘-‟　-。]+)",
    R"(\s+$)",
    kCjkHangulPattern,
    R"(\p{N}+)"};
inline constexpr std::string_view kDeepseekCoderPatterns[] = {
    R"([\r\n])", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjkHangulPattern, R"(\p{N})"};
inline constexpr std::string_view kDeepseek3Patterns[] = {
    R"(\p{N}{1,3})",
    R"([一-龥぀-ゟ゠-ヿ]+)",
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
inline constexpr std::string_view kBloomPatterns[] = {kBloomPattern};
inline constexpr std::string_view kVikingPatterns[] = {kBloomPattern, R"(\p{N})"};
inline constexpr std::string_view kTekkenPatterns[] = {
    R"([^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)"};
inline constexpr std::string_view kChameleonPatterns[] = {
    R"(<sentinel:[0-9]+>)",
    R"((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)",
    R"(([\t\n]|    |  ))",
    R"(\p{N})",
    R"([\p{P}!-/:-@\[-`{-~])",
    kGpt2Pattern};

inline constexpr std::span<const std::string_view> kPreTokenizerPatterns[] = {
    kDefaultPatterns,      kGpt2Patterns,       kLlama3Patterns,  kQwen2Patterns,
    kStarcoderPatterns,    kFalconPatterns,     kDeepseekLlmPatterns,
    kDeepseekCoderPatterns, kDeepseek3Patterns, kBloomPatterns,   kVikingPatterns,
    kTekkenPatterns,       kChameleonPatterns,
};
static_assert(std::size(kPreTokenizerPatterns) == kPreTokenizerCount);

// The compiled patterns of `pre` (compiled once per program).
inline std::span<const SplitRegex> split_rules(PreTokenizer pre) {
  static const std::vector<std::vector<SplitRegex>> all = [] {
    std::vector<std::vector<SplitRegex>> out;
    for (auto patterns : kPreTokenizerPatterns) {
      out.emplace_back(patterns.begin(), patterns.end());
    }
    return out;
  }();
  return all[static_cast<size_t>(pre)];
}

// Splits `text` as `pre` does; the pieces concatenate back to `text`.
inline std::vector<std::string_view> pre_split(std::string_view text, PreTokenizer pre) {
  std::vector<SplitChar> chars;
  std::vector<size_t> offsets;  // byte offset of each code point, then text.size()
  chars.reserve(text.size());
  offsets.reserve(text.size() + 1);
  for (size_t off = 0; off < text.size();) {
    const auto d = unicode::utf8_decode(text.substr(off));
    chars.push_back({d.cp, unicode::classify(d.cp)});
    offsets.push_back(off);
    off += d.len;
  }
  offsets.push_back(text.size());
  std::vector<size_t> pieces{chars.size()}, next;  // lengths in code points
  for (const SplitRegex& re : split_rules(pre)) {
    next.clear();
    size_t start = 0;
    for (size_t len : pieces) {
      re.split(std::span<const SplitChar>(chars).subspan(start, len), next);
      start += len;
    }
    pieces.swap(next);
  }
  std::vector<std::string_view> out;
  out.reserve(pieces.size());
  size_t start = 0;
  for (size_t len : pieces) {
    out.push_back(text.substr(offsets[start], offsets[start + len] - offsets[start]));
    start += len;
  }
  return out;
}

}  // namespace trix::detail

namespace trix {

// What a tokenizer.ggml.pre name selects in llama.cpp.
struct PreTokenizerName {
  std::string_view name;
  PreTokenizer pre;
  bool ignore_merges = false;  // a piece that is itself a token is kept whole
  bool add_bos = false;        // default for tokenizer.ggml.add_bos_token
  bool no_bos = false;         // no default BOS id
};

inline constexpr PreTokenizerName kPreTokenizerNames[] = {
    {"default", PreTokenizer::Default},
    {"llama3", PreTokenizer::Llama3, true, true},
    {"llama-v3", PreTokenizer::Llama3, true, true},
    {"llama-bpe", PreTokenizer::Llama3, true, true},
    {"falcon3", PreTokenizer::Llama3, true, true},
    {"dbrx", PreTokenizer::Llama3},
    {"smaug-bpe", PreTokenizer::Llama3},
    {"chatglm-bpe", PreTokenizer::Llama3, false, false, true},
    {"deepseek-llm", PreTokenizer::DeepseekLlm},
    {"deepseek-coder", PreTokenizer::DeepseekCoder},
    {"deepseek-v3", PreTokenizer::Deepseek3Llm},
    {"falcon", PreTokenizer::Falcon},
    {"gpt-2", PreTokenizer::Gpt2},
    {"gpt2", PreTokenizer::Gpt2},  // TriX's own name before it followed llama.cpp's
    {"mpt", PreTokenizer::Gpt2},
    {"olmo", PreTokenizer::Gpt2},
    {"jais", PreTokenizer::Gpt2},
    {"phi-2", PreTokenizer::Gpt2},
    {"jina-es", PreTokenizer::Gpt2},
    {"jina-de", PreTokenizer::Gpt2},
    {"gigachat", PreTokenizer::Gpt2},
    {"jina-v1-en", PreTokenizer::Gpt2},
    {"jina-v2-es", PreTokenizer::Gpt2},
    {"jina-v2-de", PreTokenizer::Gpt2},
    {"jina-v2-code", PreTokenizer::Gpt2},
    {"roberta-bpe", PreTokenizer::Gpt2},
    {"starcoder", PreTokenizer::Starcoder},
    {"refact", PreTokenizer::Starcoder},
    {"command-r", PreTokenizer::Starcoder},
    {"smollm", PreTokenizer::Starcoder},
    {"codeshell", PreTokenizer::Starcoder},
    {"exaone", PreTokenizer::Starcoder},
    {"minerva-7b", PreTokenizer::Starcoder},
    {"qwen2", PreTokenizer::Qwen2},
    {"deepseek-r1-qwen", PreTokenizer::Qwen2},
    {"megrez", PreTokenizer::Qwen2},
    {"stablelm2", PreTokenizer::Qwen2},
    {"poro-chat", PreTokenizer::Bloom},
    {"bloom", PreTokenizer::Bloom},
    {"gpt3-finnish", PreTokenizer::Bloom},
    {"viking", PreTokenizer::Viking},
    {"tekken", PreTokenizer::Tekken, true, true},
    {"chameleon", PreTokenizer::Chameleon, false, true},
};

inline std::optional<PreTokenizerName> find_pre_tokenizer(std::string_view name) {
  for (const auto& n : kPreTokenizerNames) {
    if (n.name == name) return n;
  }
  return std::nullopt;
}

}  // namespace trix
