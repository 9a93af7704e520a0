// GGUF -> the TriX sparse-lookup language model (general.architecture =
// "trix_sparse_lookup"; names and keys: trix/convert/trix_lm_names.h,
// documented in specs/README.md). Shapes are read at run time from the
// metadata; the vocabulary size is token_embd's row count (the reference
// models are character-level and no tokenizer is required: a file may carry
// tokenizer.ggml.* keys, which this loader does not read).
//
// Required keys: embedding_length, block_count, attention.head_count,
// context_length, sparse_lookup.tile_count, sparse_lookup.tiles_per_cluster;
// optional: attention.layer_norm_epsilon (1e-5, PyTorch's default),
// sparse_lookup.grid_size (16), sparse_lookup.compress_length
// (embedding_length / 4, the reference's default). Errors name the file and
// the key or tensor.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "trix/convert/trix_lm_names.h"
#include "trix/core/error.h"
#include "trix/io/gguf_reader.h"
#include "trix/runtime/loader.h"
#include "trix/runtime/trix_lm_blocks.h"

namespace trix {

inline TrixLmConfig trix_lm_gguf_config(const GgufReader& r) {
  namespace g = trix_lm_gguf;
  const std::string arch = r.get_string("general.architecture");
  if (arch != g::kArchitecture) {
    throw Error(r.name() + ": metadata key 'general.architecture' = \"" + arch + "\", expected \"" +
                g::kArchitecture + "\"");
  }
  TrixLmConfig c;
  c.dim = detail::positive(r, g::kEmbeddingLength, 1 << 20);
  c.n_layers = detail::positive(r, g::kBlockCount, 1 << 12);
  c.n_heads = detail::positive(r, g::kHeadCount, 1 << 16);
  c.context_length = detail::positive(r, g::kContextLength, 1 << 24);
  c.norm_eps = detail::positive_f32(r, g::kLayerNormEpsilon, 1e-5f);
  c.tiles = detail::positive(r, g::kTileCount, 1 << 20);
  c.tiles_per_cluster = detail::positive(r, g::kTilesPerCluster, 1 << 20);
  c.grid = detail::positive_opt(r, g::kGridSize, 4096).value_or(16);
  c.compress_hidden = detail::positive_opt(r, g::kCompressLength, 1 << 22).value_or(c.dim / 4);
  const GgufTensor& embd = r.tensor(g::tensor_name("token_embd"));
  if (embd.n_dims != 2 || embd.ne[0] != static_cast<uint64_t>(c.dim) || embd.ne[1] == 0 ||
      embd.ne[1] > (1u << 24)) {
    throw Error(r.name() + ": tensor '" + embd.name + "' has shape " + detail::shape_str(embd) + ", expected [" +
                std::to_string(c.dim) + ", vocabulary size]");
  }
  c.vocab_size = static_cast<int64_t>(embd.ne[1]);
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(r.name() + ": " + e.what());
  }
  return c;
}

// Views of every tensor of `c`, by the architecture's GGUF names.
inline TrixLmWeights trix_lm_gguf_weights(const GgufReader& r, const TrixLmConfig& c) {
  namespace g = trix_lm_gguf;
  const int64_t d = c.dim;
  const auto vec = [&](const char* role, int64_t n, int64_t layer = 0) {
    return gguf_norm(r, g::tensor_name(role, layer), n);
  };
  const auto mat = [&](const char* role, int64_t rows, int64_t cols, int64_t layer = 0) {
    return gguf_weight(r, g::tensor_name(role, layer), rows, cols);
  };
  TrixLmWeights w;
  w.token_embd = mat("token_embd", c.vocab_size, d);
  w.position_embd = mat("position_embd", c.context_length, d);
  w.output_norm_weight = vec("output_norm", d);
  w.output_norm_bias = vec("output_norm_bias", d);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    TrixLmLayerWeights L;
    L.attn_norm_weight = vec("attn_norm", d, l);
    L.attn_norm_bias = vec("attn_norm_bias", d, l);
    L.attn_qkv = mat("attn_qkv", 3 * d, d, l);
    L.attn_qkv_bias = vec("attn_qkv_bias", 3 * d, l);
    L.attn_output = mat("attn_output", d, d, l);
    L.attn_output_bias = vec("attn_output_bias", d, l);
    SparseLookupWeights& f = L.ffn;
    f.norm_weight = vec("ffn_norm", d, l);
    f.norm_bias = vec("ffn_norm_bias", d, l);
    f.directions = mat("ffn_directions", c.tiles, d, l);
    f.compress_in = mat("ffn_compress_in", c.compress_hidden, d, l);
    f.compress_in_bias = vec("ffn_compress_in_bias", c.compress_hidden, l);
    f.compress_out = mat("ffn_compress_out", 2, c.compress_hidden, l);
    f.compress_out_bias = vec("ffn_compress_out_bias", 2, l);
    f.spline_coeffs = mat("ffn_spline", c.tiles, c.grid * c.grid * 3, l);
    f.spline_scale = vec("ffn_spline_scale", c.tiles, l);
    f.output_scale = vec("ffn_output_scale", 1, l);
    w.layers.push_back(L);
  }
  return w;
}

// A loaded model: the mapping (kept alive by the reader; the views point
// into it, so moving this keeps them valid) and the prepared model.
struct LoadedTrixLm {
  GgufReader gguf;
  TrixLmConfig config;
  std::shared_ptr<const PreparedTrixLm> prepared;
};

inline LoadedTrixLm load_trix_lm(GgufReader r) {
  const TrixLmConfig c = trix_lm_gguf_config(r);
  const TrixLmWeights w = trix_lm_gguf_weights(r, c);
  std::shared_ptr<const PreparedTrixLm> p;
  try {
    p = std::make_shared<const PreparedTrixLm>(prepare_trix_lm(c, w));
  } catch (const Error& e) {
    throw Error(r.name() + ": " + e.what());
  }
  return LoadedTrixLm{std::move(r), c, std::move(p)};
}

inline LoadedTrixLm load_trix_lm(const std::filesystem::path& path) { return load_trix_lm(GgufReader::open(path)); }

}  // namespace trix
