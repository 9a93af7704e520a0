// Runs llama2.c's legacy (version 0) float32 checkpoints directly, such as
// ../shared/models/stories260K/stories260K.bin, without converting to GGUF.
// Parsing and validation are parse_llama2c_checkpoint's (llama2c.h, the one
// llama2.c reader, shared with the GGUF converter); this maps the file and
// exposes its arrays as ModelWeights views (F32) with the matching config.
#pragma once

#include <bit>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "trix/core/error.h"
#include "trix/runtime/config.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/mapped_file.h"
#include "trix/io/llama2c.h"
#include "trix/runtime/weights.h"

namespace trix {

// The ModelConfig of a parsed checkpoint (llama, adjacent RoPE, theta 1e4,
// eps 1e-5, as llama2.c hard-codes them).
inline ModelConfig llama2c_model_config(const Llama2cConfig& l) {
  ModelConfig c = ModelConfig::defaults_for(Arch::Llama);
  c.dim = l.dim;
  c.ffn_hidden = l.hidden_dim;
  c.n_layers = l.n_layers;
  c.n_heads = l.n_heads;
  c.n_kv_heads = l.n_kv_heads;
  c.head_dim = l.head_size();
  c.vocab_size = l.vocab_size;
  c.context_length = l.seq_len;
  c.rope_theta = 10000.0f;
  c.rms_eps = 1e-5f;
  c.tied_output = l.shared_classifier;
  return c;
}

class Llama2cCheckpoint {
 public:
  // Maps and checks the file. Throws trix::Error naming the file and the
  // field or byte offset on any inconsistency.
  static Llama2cCheckpoint load(const std::string& path) {
    auto file = std::make_shared<MappedFile>(std::filesystem::path(path));
    Llama2cCheckpoint ck = from_memory(file->bytes(), path);
    ck.file_ = std::move(file);  // the views point into the mapping, which does not move
    return ck;
  }

  // Checks a checkpoint held in `bytes` (4-byte aligned, as a mapping or
  // malloc gives; it must outlive the result), named `name` in errors.
  static Llama2cCheckpoint from_memory(std::span<const uint8_t> bytes, const std::string& name) {
    // The arrays are used in place: little-endian f32 at 4-byte offsets of a
    // 4-byte aligned buffer.
    static_assert(std::endian::native == std::endian::little,
                  "llama2.c checkpoints are little-endian; add a byte-swapping copy for this host");
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) != 0) {
      throw Error(name + ": checkpoint buffer is not 4-byte aligned");
    }
    Llama2cCheckpoint ck;
    const Llama2cWeights l = parse_llama2c_checkpoint(bytes, name);
    ck.config_ = llama2c_model_config(l.config);
    const ModelConfig& c = ck.config_;
    c.validate();

    const int64_t D = c.dim, H = c.ffn_hidden, KV = c.kv_dim();
    const auto view = [](std::span<const uint8_t> all, int64_t index, int64_t rows, int64_t cols) {
      const auto* base = reinterpret_cast<const float*>(all.data());
      return WeightView{base + index * rows * cols, FormatId::F32, rows, cols, 1.0f};
    };
    ModelWeights& w = ck.weights_;
    w.token_embd = view(l.token_embedding, 0, c.vocab_size, D);
    w.output_norm = view(l.rms_final, 0, 1, D);
    w.output = c.tied_output ? w.token_embd : view(l.wcls, 0, c.vocab_size, D);
    w.layers.resize(static_cast<size_t>(c.n_layers));
    for (int64_t i = 0; i < c.n_layers; ++i) {
      LayerWeights& L = w.layers[static_cast<size_t>(i)];
      L.attn_norm = view(l.rms_att, i, 1, D);
      L.wq = view(l.wq, i, D, D);
      L.wk = view(l.wk, i, KV, D);
      L.wv = view(l.wv, i, KV, D);
      L.wo = view(l.wo, i, D, D);
      L.ffn_norm = view(l.rms_ffn, i, 1, D);
      L.w_gate = view(l.w1, i, H, D);
      L.w_down = view(l.w2, i, D, H);
      L.w_up = view(l.w3, i, H, D);
    }
    validate_weights(c, w);
    return ck;
  }

  const ModelConfig& config() const { return config_; }
  // Views into the mapping: valid while this object (or a move of it) lives.
  const ModelWeights& weights() const { return weights_; }

 private:
  std::shared_ptr<MappedFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
};

}  // namespace trix
