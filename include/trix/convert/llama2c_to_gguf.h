// llama2.c checkpoint (legacy version 0) and tokenizer.bin -> GGUF
// (parsing: trix/io/llama2c.h).
//
// The output is the `llama` architecture with llama.cpp's metadata keys and
// tensor names, and the same conventions as llama.cpp's
// convert-llama2c-to-ggml (checked against its stories260K output):
//   * weights are copied in llama2.c's order without any permutation:
//     llama2.c's W[out][in] row-major is ggml's ne = {in, out}, and its RoPE
//     rotates adjacent pairs, which is what llama.cpp's `llama` graph does;
//   * vocabulary: id 0 is "<unk>" (UNKNOWN), ids 1/2 are "<s>"/"</s>"
//     (CONTROL; llama2.c's export writes them as "\n<s>\n"), empty pieces are
//     CONTROL, "<0xXX>" pieces are BYTE, everything else NORMAL, and each
//     space becomes SentencePiece's U+2581 word marker;
//   * bos = 1, eos = 2, unknown = 0.
// Differences, deliberate: output.weight is written only when the checkpoint
// has its own classifier (vocab_size < 0); with a shared one the runtime ties
// output to token_embd (llama.cpp's converter duplicates the embedding).
// llama.context_length is the checkpoint's seq_len (llama.cpp writes its
// n_ctx default, 128).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/io/gguf_writer.h"
#include "trix/io/llama2c.h"
#include "trix/io/mapped_file.h"
#include "trix/io/output_file.h"
#include "trix/text/vocab.h"

namespace trix {

// The GGUF vocabulary llama.cpp's converter derives from tokenizer.bin (see
// the file comment): pieces with U+2581 for spaces, scores, token types.
struct GgufSpmVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

inline GgufSpmVocab llama2c_vocab_to_gguf(const Llama2cVocab& in) {
  GgufSpmVocab out;
  const size_t n = in.pieces.size();
  out.tokens.reserve(n);
  out.scores = in.scores;
  out.types.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    std::string text = in.pieces[id];
    TokenType type = TokenType::Normal;
    if (id == 0) {
      text = "<unk>";
      type = TokenType::Unknown;
    } else if (id == 1) {
      text = "<s>";
      type = TokenType::Control;
    } else if (id == 2) {
      text = "</s>";
      type = TokenType::Control;
    } else if (text.empty()) {
      type = TokenType::Control;
    } else if (detail::parse_byte_token(text)) {
      type = TokenType::Byte;
    }
    std::string escaped;
    escaped.reserve(text.size());
    for (char ch : text) {
      if (ch == ' ') {
        escaped += "\xe2\x96\x81";
      } else {
        escaped += ch;
      }
    }
    out.tokens.push_back(std::move(escaped));
    out.types.push_back(static_cast<int32_t>(type));
  }
  return out;
}

// Writes a llama-architecture GGUF (all tensors F32) from a parsed checkpoint
// and vocabulary, through trix::OutputFile (`inputs`: the files they were
// read from, which `out_path` must not be). Throws trix::Error when the
// vocabulary size differs from the checkpoint's, or on I/O failure.
inline void write_llama2c_gguf(const Llama2cWeights& w, const Llama2cVocab& vocab,
                               const std::filesystem::path& out_path,
                               const std::vector<std::filesystem::path>& inputs = {}) {
  const Llama2cConfig& c = w.config;
  if (vocab.pieces.size() != static_cast<size_t>(c.vocab_size)) {
    throw Error(out_path.string() + ": tokenizer has " + std::to_string(vocab.pieces.size()) +
                " tokens, the checkpoint expects " + std::to_string(c.vocab_size));
  }
  GgufWriter g(out_path, inputs);
  g.set_string("general.architecture", "llama");
  g.set_string("general.name", "llama");
  g.set_u32("llama.context_length", static_cast<uint32_t>(c.seq_len));
  g.set_u32("llama.embedding_length", static_cast<uint32_t>(c.dim));
  g.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  g.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  g.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  g.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  g.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_size()));
  g.set_f32("llama.rope.freq_base", 10000.0f);
  g.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  g.set_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));

  GgufSpmVocab gv = llama2c_vocab_to_gguf(vocab);
  g.set_string("tokenizer.ggml.model", "llama");
  g.set("tokenizer.ggml.tokens", GgufValue::array(std::move(gv.tokens)));
  g.set("tokenizer.ggml.scores", GgufValue::array(gv.scores));
  g.set("tokenizer.ggml.token_type", GgufValue::array(gv.types));
  g.set_u32("tokenizer.ggml.unknown_token_id", 0);
  g.set_u32("tokenizer.ggml.bos_token_id", 1);
  g.set_u32("tokenizer.ggml.eos_token_id", 2);

  const uint64_t dim = static_cast<uint64_t>(c.dim), hid = static_cast<uint64_t>(c.hidden_dim),
                 V = static_cast<uint64_t>(c.vocab_size), kv = static_cast<uint64_t>(c.kv_dim());
  // Declare every tensor first (the header needs all infos), remembering
  // where each one's bytes sit in the checkpoint; then stream them out.
  std::vector<std::span<const uint8_t>> order;
  auto add = [&](std::string name, std::initializer_list<uint64_t> ne, std::span<const uint8_t> all,
                 uint64_t layer) {
    g.add_tensor(std::move(name), FormatId::F32, ne);
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    const uint64_t bytes = n * 4;
    order.push_back(all.subspan(static_cast<size_t>(layer * bytes), static_cast<size_t>(bytes)));
  };
  add("token_embd.weight", {dim, V}, w.token_embedding, 0);
  add("output_norm.weight", {dim}, w.rms_final, 0);
  if (!c.shared_classifier) add("output.weight", {dim, V}, w.wcls, 0);
  for (uint64_t l = 0; l < static_cast<uint64_t>(c.n_layers); ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_q.weight", {dim, dim}, w.wq, l);
    add(p + "attn_k.weight", {dim, kv}, w.wk, l);
    add(p + "attn_v.weight", {dim, kv}, w.wv, l);
    add(p + "attn_output.weight", {dim, dim}, w.wo, l);
    add(p + "attn_norm.weight", {dim}, w.rms_att, l);
    add(p + "ffn_gate.weight", {dim, hid}, w.w1, l);
    add(p + "ffn_down.weight", {hid, dim}, w.w2, l);
    add(p + "ffn_up.weight", {dim, hid}, w.w3, l);
    add(p + "ffn_norm.weight", {dim}, w.rms_ffn, l);
  }
  for (const auto& bytes : order) g.write_tensor_data(bytes);
  g.finish();
}

// Converts files: checkpoint + tokenizer.bin -> out.gguf (see write_llama2c_gguf).
inline void convert_llama2c_to_gguf(const std::filesystem::path& model_path,
                                    const std::filesystem::path& tokenizer_path,
                                    const std::filesystem::path& out_path) {
  const std::vector<std::filesystem::path> inputs{model_path, tokenizer_path};
  check_output_path(out_path, inputs);  // before reading: the output may be an input
  const MappedFile model(model_path);
  const MappedFile tok(tokenizer_path);
  const Llama2cWeights w = parse_llama2c_checkpoint(model.bytes(), model_path.string());
  const Llama2cVocab v = parse_llama2c_tokenizer(tok.bytes(), tokenizer_path.string(), w.config.vocab_size);
  write_llama2c_gguf(w, v, out_path, inputs);
}

}  // namespace trix
