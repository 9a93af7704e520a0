// libFuzzer target for Tokenizer::encode/decode (tokenizer.h) on arbitrary
// bytes, with small vocabularies built here: a SentencePiece-style one (byte
// fallback, scored pieces, control tokens) and a byte-level BPE one (all 256
// bytes, a few merges, a special token) under each pre-tokenizer.
// Input: byte 0 picks the tokenizer and options, the rest is the text.
// Checked: encode never throws (it promises so), every id is in the
// vocabulary, and decode(encode(text)) == text wherever the tokenizer can
// round-trip (byte-level BPE always; SPM when the text holds no U+2581,
// which decodes to a space, and no special-token text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trix/text/tokenizer.h"
#include "trix/text/unicode.h"

namespace {

using trix::PreTokenizer;
using trix::Tokenizer;
using trix::TokenizerKind;
using trix::TokenizerVocab;
using trix::TokenType;

std::string gpt2_map(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    trix::unicode::utf8_append(out, trix::detail::byte_to_codepoint()[static_cast<uint8_t>(c)]);
  }
  return out;
}

Tokenizer spm(bool add_space_prefix) {
  TokenizerVocab v;
  v.kind = TokenizerKind::Spm;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::Unknown, TokenType::Control, TokenType::Control};
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    v.types.push_back(TokenType::Byte);
  }
  const std::string sp = "\xe2\x96\x81";
  for (const std::string& piece : std::vector<std::string>{sp, sp + "a", sp + "the", "he", "ll", "o", sp + "w", "or", "ld", "e",
                                   "t", "h", "l", "r", "d", sp + "t", sp + "th", "th", "\xc3\xa9",
                                   "\xe4\xbd\xa0\xe5\xa5\xbd", "12", "3", sp + sp}) {
    v.tokens.push_back(piece);
    v.types.push_back(TokenType::Normal);
  }
  v.tokens.push_back("<|user|>");
  v.types.push_back(TokenType::UserDefined);
  v.scores.assign(v.tokens.size(), 0.0f);
  for (size_t i = 259; i < v.scores.size(); ++i) v.scores[i] = -static_cast<float>(i % 7);
  v.unk = 0, v.bos = 1, v.eos = 2;
  v.add_space_prefix = add_space_prefix;
  return Tokenizer(std::move(v), "fuzz-spm");
}

Tokenizer bpe(PreTokenizer pre) {
  TokenizerVocab v;
  v.kind = TokenizerKind::Bpe;
  v.pre = pre;
  v.add_bos = true;
  v.add_space_prefix = false;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(gpt2_map(std::string(1, static_cast<char>(b))));
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {"o", "r"}, {" w", "or"},
      {"l", "d"}, {" wor", "ld"}, {"1", "2"}, {"12", "3"}, {"\xc3", "\xa9"}, {" ", " "}, {"\n", "\n"},
  };
  for (const auto& [a, b] : merges) {
    v.merges.push_back(gpt2_map(a) + " " + gpt2_map(b));
    v.tokens.push_back(gpt2_map(a + b));
  }
  v.tokens.push_back("<|begin|>");
  v.tokens.push_back("<|end|>");
  v.types.assign(v.tokens.size(), TokenType::Normal);
  v.types[v.types.size() - 2] = TokenType::Control;
  v.types.back() = TokenType::Control;
  v.bos = static_cast<int32_t>(v.tokens.size() - 2);
  v.eos = static_cast<int32_t>(v.tokens.size() - 1);
  return Tokenizer(std::move(v), "fuzz-bpe");
}

struct Tokenizers {
  std::vector<Tokenizer> all;
  Tokenizers() {
    all.push_back(spm(true));
    all.push_back(spm(false));
    // Every pre-tokenizer (each is a list of split patterns).
    for (size_t p = 0; p < trix::kPreTokenizerCount; ++p) {
      all.push_back(bpe(static_cast<PreTokenizer>(p)));
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizers toks;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const Tokenizer& tok = toks.all[(mode & 7u) % toks.all.size()];
  const bool add_special = (mode & 8u) != 0;
  const bool parse_special = (mode & 16u) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<int32_t> ids = tok.encode(text, add_special, parse_special);
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= tok.n_tokens()) std::abort();
  }
  const std::string back = tok.decode(ids);
  bool round_trips = !parse_special;
  if (tok.kind() == TokenizerKind::Spm) {
    round_trips = round_trips && text.find("\xe2\x96\x81") == std::string_view::npos &&
                  text.find("<|user|>") == std::string_view::npos;
  }
  if (round_trips && back != text) std::abort();
  return 0;
}
