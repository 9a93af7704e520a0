// Reads a TokenizerVocab from GGUF metadata (the tokenizer.ggml.* keys),
// with llama.cpp's defaults for the keys a file leaves out (and one
// deliberate difference: see guess_pre_tokenizer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/text/pre_tokenizer.h"
#include "trix/text/vocab.h"

namespace trix {

namespace detail {

inline Error vocab_length_mismatch(const GgufReader& r, const char* key, size_t got, size_t want) {
  return Error(r.name() + ": metadata key '" + key + "' has " + std::to_string(got) +
               " items, expected one per token (" + std::to_string(want) + ")");
}

// The pre-tokenizer for a BPE file without tokenizer.ggml.pre. LLaMA 3's
// vocabulary (128256 tokens, <|begin_of_text|> and <|end_of_text|> at 128000
// and 128001) gets its own ("llama-bpe"): older converters left the key out
// for it, and the GPT-2 style split llama.cpp falls back to would change its
// ids. Anything else gets llama.cpp's fallback, "default". Pass an override to
// tokenizer_vocab_from_gguf when neither is right.
inline std::string guess_pre_tokenizer(const TokenizerVocab& v) {
  constexpr size_t kLlama3Tokens = 128256;
  const bool llama3 = v.tokens.size() == kLlama3Tokens && v.tokens[128000] == "<|begin_of_text|>" &&
                      v.tokens[128001] == "<|end_of_text|>";
  return llama3 ? "llama-bpe" : "default";
}

}  // namespace detail

// The BPE pre-tokenizer: `pre_override` (a tokenizer.ggml.pre name) when not
// empty, else the file's tokenizer.ggml.pre, else guess_pre_tokenizer's
// answer. Throws trix::Error naming the key on a missing vocabulary,
// mismatched array lengths, a token type out of range, an unsupported
// tokenizer.ggml.model / pre-tokenizer name, or a special id out of range.
inline TokenizerVocab tokenizer_vocab_from_gguf(const GgufReader& r, std::string_view pre_override = {}) {
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
    if (s->size() != n) throw detail::vocab_length_mismatch(r, "tokenizer.ggml.scores", s->size(), n);
    v.scores = std::move(*s);
  }
  if (auto t = r.find_array<int32_t>("tokenizer.ggml.token_type")) {
    if (t->size() != n) throw detail::vocab_length_mismatch(r, "tokenizer.ggml.token_type", t->size(), n);
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
    const std::string pre = pre_override.empty()
                                ? r.find_string("tokenizer.ggml.pre").value_or(detail::guess_pre_tokenizer(v))
                                : std::string(pre_override);
    const auto found = find_pre_tokenizer(pre);
    if (!found) {
      std::string msg = r.name();
      msg += pre_override.empty() ? ": metadata key 'tokenizer.ggml.pre'" : ": pre-tokenizer override";
      msg += " = \"" + pre + "\": unsupported (expected one of llama.cpp's names:";
      for (const auto& n : kPreTokenizerNames) {
        msg += ' ';
        msg += n.name;
      }
      msg += ')';
      throw Error(msg);
    }
    v.pre = found->pre;
    v.ignore_merges = found->ignore_merges;
    v.add_bos = found->add_bos;
    if (found->no_bos) v.bos = -1;
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
  special("tokenizer.ggml.eot_token_id", v.eot);
  special("tokenizer.ggml.eom_token_id", v.eom);
  if (auto b = r.find_bool("tokenizer.ggml.add_bos_token")) v.add_bos = *b;
  if (auto b = r.find_bool("tokenizer.ggml.add_eos_token")) v.add_eos = *b;
  if (auto b = r.find_bool("tokenizer.ggml.add_space_prefix")) v.add_space_prefix = *b;
  return v;
}

}  // namespace trix
