// Non-owning views of a model's tensors (mmapped GGUF, a loaded llama2.c
// checkpoint, or test buffers), plus the shape/format checks that let the
// forward pass trust them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/formats/blocks.h"
#include "trix/runtime/config.h"

namespace trix {

inline const char* format_name(FormatId f) { return format_info(f).name; }

// A rows x cols row-major matrix (or a 1 x n vector) in one format: row r
// starts at data + r * row_bytes() and holds `cols` elements. `scale`
// multiplies every product with the matrix: BitNet checkpoints may carry a
// per-tensor scale next to ternary weights (llama.cpp's `*.scale` tensors),
// and I2_S keeps its tensor scale here (the packed rows hold only codes).
struct WeightView {
  const void* data = nullptr;
  FormatId format = FormatId::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  float scale = 1.0f;

  bool empty() const { return data == nullptr; }
  // Bytes per row (block layout from the generated format table); 0 when
  // cols is not a whole number of blocks. A per-tensor trailer (I2_S's
  // scale) is not part of any row.
  int64_t row_bytes() const {
    const FormatInfo& f = format_info(format);
    if (cols % f.block_elements != 0) return 0;
    return cols / f.block_elements * f.block_bytes;
  }
  const void* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + r * row_bytes();
  }
};

struct LayerWeights {
  WeightView attn_norm;      // F32 [dim]
  WeightView wq;             // [q_dim x dim]
  WeightView wk;             // [kv_dim x dim]
  WeightView wv;             // [kv_dim x dim]
  WeightView attn_sub_norm;  // F32 [q_dim], bitnet only
  WeightView wo;             // [dim x q_dim]
  WeightView ffn_norm;       // F32 [dim]
  WeightView w_gate;         // [ffn_hidden x dim]
  WeightView w_up;           // [ffn_hidden x dim]
  WeightView ffn_sub_norm;   // F32 [ffn_hidden], bitnet only
  WeightView w_down;         // [dim x ffn_hidden]
};

struct ModelWeights {
  WeightView token_embd;   // [vocab x dim]
  std::vector<LayerWeights> layers;
  WeightView output_norm;  // F32 [dim]
  WeightView output;       // [vocab x dim]; a copy of token_embd when tied
};

namespace detail {

inline void check_matrix(const WeightView& w, const std::string& name, int64_t rows,
                         int64_t cols) {
  if (w.empty()) throw Error("model weights: " + name + " is missing");
  if (w.rows != rows || w.cols != cols) {
    throw Error("model weights: " + name + " has shape " + std::to_string(w.rows) + "x" +
                std::to_string(w.cols) + ", expected " + std::to_string(rows) + "x" +
                std::to_string(cols));
  }
  if (w.row_bytes() == 0) {
    throw Error("model weights: " + name + " has format " + format_name(w.format) +
                ", which cannot hold rows of " + std::to_string(cols) +
                " elements (unsupported format or cols not a multiple of its block)");
  }
}

inline void check_norm(const WeightView& w, const std::string& name, int64_t n) {
  check_matrix(w, name, 1, n);
  if (w.format != FormatId::F32) {
    throw Error("model weights: " + name + " has format " + format_name(w.format) +
                ", expected F32 (norm weights are kept in f32)");
  }
}

}  // namespace detail

// Throws trix::Error naming the first tensor whose presence, shape or format
// does not fit `c`. Norm vectors are 1 x n F32 views.
inline void validate_weights(const ModelConfig& c, const ModelWeights& w) {
  c.validate();
  detail::check_matrix(w.token_embd, "token_embd", c.vocab_size, c.dim);
  detail::check_norm(w.output_norm, "output_norm", c.dim);
  detail::check_matrix(w.output, "output", c.vocab_size, c.dim);
  if (static_cast<int64_t>(w.layers.size()) != c.n_layers) {
    throw Error("model weights: " + std::to_string(w.layers.size()) +
                " layers, expected n_layers = " + std::to_string(c.n_layers));
  }
  const bool bitnet = c.arch == Arch::BitnetB158;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    detail::check_norm(l.attn_norm, p + "attn_norm", c.dim);
    detail::check_matrix(l.wq, p + "wq", c.q_dim(), c.dim);
    detail::check_matrix(l.wk, p + "wk", c.kv_dim(), c.dim);
    detail::check_matrix(l.wv, p + "wv", c.kv_dim(), c.dim);
    detail::check_matrix(l.wo, p + "wo", c.dim, c.q_dim());
    detail::check_norm(l.ffn_norm, p + "ffn_norm", c.dim);
    detail::check_matrix(l.w_gate, p + "w_gate", c.ffn_hidden, c.dim);
    detail::check_matrix(l.w_up, p + "w_up", c.ffn_hidden, c.dim);
    detail::check_matrix(l.w_down, p + "w_down", c.dim, c.ffn_hidden);
    if (bitnet) {
      detail::check_norm(l.attn_sub_norm, p + "attn_sub_norm", c.q_dim());
      detail::check_norm(l.ffn_sub_norm, p + "ffn_sub_norm", c.ffn_hidden);
    }
  }
}

}  // namespace trix
