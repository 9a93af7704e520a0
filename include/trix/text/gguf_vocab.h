// Reads a TokenizerVocab from GGUF metadata (the tokenizer.ggml.* keys),
// with llama.cpp's defaults for the keys a file leaves out.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/text/vocab.h"

namespace trix {

namespace detail {

inline Error vocab_length_mismatch(const GgufReader& r, const char* key, size_t got, size_t want) {
  return Error(r.name() + ": metadata key '" + key + "' has " + std::to_string(got) +
               " items, expected one per token (" + std::to_string(want) + ")");
}

}  // namespace detail

// Throws trix::Error naming the key on a missing vocabulary, mismatched
// array lengths, a token type out of range, an unsupported
// tokenizer.ggml.model / tokenizer.ggml.pre, or a special id out of range.
inline TokenizerVocab tokenizer_vocab_from_gguf(const GgufReader& r) {
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
  return v;
}

}  // namespace trix
