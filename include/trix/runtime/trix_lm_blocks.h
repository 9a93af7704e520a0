// The TriX sparse-lookup language model (the reference TriXLanguageModel
// around SparseLookupFFN): hyper-parameters, weight views, the prepared
// model, one sequence's state and the two blocks of a layer. How blocks
// compose into a layer is generated from specs/models/trix_sparse_lookup_*.yaml
// into generated/trix/models/graphs.h (TrixSparseLookupGraph); the forward
// pass over it is trix/runtime/trix_lm.h.
//
// Per layer (PyTorch, at inference):
//   x += out_proj(MHA_causal(in_proj(LayerNorm1(x))))   (biases on both
//        projections; heads of dim / n_heads, softmax(q . k / sqrt(hd)))
//   x  = SparseLookupFFN(x)   (its own LayerNorm and residual,
//        trix/runtime/sparse_lookup.h)
// around it: x = token_embd[id] + position_embd[pos]; logits =
// token_embd . LayerNorm_f(x) (the output is tied to the token embedding).
//
// A Shape is any type with these members, read as `s.dim` etc.: dim,
// n_layers, n_heads, head_dim, vocab_size, context_length, tiles,
// tiles_per_cluster, grid, compress_hidden, norm_eps. TrixLmRuntimeShape
// holds them as members (from a TrixLmConfig); TrixLmSpecShape<Spec> sees a
// model spec's static constexpr members (trix::models::<Name>).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/cpu/ops.h"
#include "trix/runtime/kv_cache.h"
#include "trix/runtime/matmul.h"
#include "trix/runtime/sparse_lookup.h"
#include "trix/runtime/weights.h"

namespace trix {

struct TrixLmConfig {
  int64_t dim = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t vocab_size = 0;
  int64_t context_length = 0;  // rows of the learned position embedding
  int64_t tiles = 0;
  int64_t tiles_per_cluster = 0;
  int64_t grid = 16;
  int64_t compress_hidden = 0;
  float norm_eps = 1e-5f;

  int64_t head_dim() const { return n_heads > 0 ? dim / n_heads : 0; }
  SparseLookupDims ffn_dims() const {
    return {dim, tiles, tiles_per_cluster, grid, compress_hidden, norm_eps};
  }
  // Throws trix::Error naming the first field out of range.
  void validate() const {
    const auto need = [](bool ok, const char* field, int64_t got, const char* expected) {
      if (!ok) {
        std::string msg = "trix_sparse_lookup config: ";
        msg += field;
        msg += " = ";
        msg += std::to_string(got);
        msg += ", expected ";
        msg += expected;
        throw Error(msg);
      }
    };
    need(dim > 0, "dim", dim, "> 0");
    need(n_layers > 0, "n_layers", n_layers, "> 0");
    need(n_heads > 0 && dim % n_heads == 0 && dim / n_heads <= 1024, "n_heads", n_heads,
         "> 0, dividing dim into heads of at most 1024");
    need(vocab_size > 0, "vocab_size", vocab_size, "> 0");
    need(context_length > 0, "context_length", context_length, "> 0");
    ffn_dims().validate();
  }
};

struct TrixLmLayerWeights {
  WeightView attn_norm_weight, attn_norm_bias;  // F32 [dim]
  WeightView attn_qkv, attn_qkv_bias;           // [3 dim x dim] any matmul format; F32 [3 dim]
  WeightView attn_output, attn_output_bias;     // [dim x dim] any matmul format; F32 [dim]
  SparseLookupWeights ffn;
};

struct TrixLmWeights {
  WeightView token_embd;     // [vocab x dim], also the output projection
  WeightView position_embd;  // F32 [context x dim]
  std::vector<TrixLmLayerWeights> layers;
  WeightView output_norm_weight, output_norm_bias;  // F32 [dim]
};

struct PreparedTrixLmLayer {
  const float* attn_norm_weight = nullptr;
  const float* attn_norm_bias = nullptr;
  PreparedWeight attn_qkv, attn_output;
  const float* attn_qkv_bias = nullptr;
  const float* attn_output_bias = nullptr;
  PreparedSparseLookup ffn;
};

// A model prepared once (at load) from views that must outlive it.
struct PreparedTrixLm {
  TrixLmConfig config;
  TrixLmWeights views;
  std::vector<PreparedTrixLmLayer> layers;
  PreparedWeight output;  // token_embd
};

// Checks every view against `c` (trix::Error naming layer and tensor) and
// prepares the model.
inline PreparedTrixLm prepare_trix_lm(const TrixLmConfig& c, const TrixLmWeights& w) {
  c.validate();
  const int64_t d = c.dim;
  detail::check_matrix(w.token_embd, "token_embd", c.vocab_size, d);
  detail::check_f32(w.position_embd, "position_embd", c.context_length, d);
  detail::check_f32(w.output_norm_weight, "output_norm_weight", 1, d);
  detail::check_f32(w.output_norm_bias, "output_norm_bias", 1, d);
  if (static_cast<int64_t>(w.layers.size()) != c.n_layers) {
    throw Error("model weights: " + std::to_string(w.layers.size()) + " layers, expected n_layers = " +
                std::to_string(c.n_layers));
  }
  PreparedTrixLm p;
  p.config = c;
  p.views = w;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const TrixLmLayerWeights& l = w.layers[i];
    const std::string name = "layer " + std::to_string(i) + " ";
    detail::check_f32(l.attn_norm_weight, name + "attn_norm_weight", 1, d);
    detail::check_f32(l.attn_norm_bias, name + "attn_norm_bias", 1, d);
    detail::check_matrix(l.attn_qkv, name + "attn_qkv", 3 * d, d);
    detail::check_f32(l.attn_qkv_bias, name + "attn_qkv_bias", 1, 3 * d);
    detail::check_matrix(l.attn_output, name + "attn_output", d, d);
    detail::check_f32(l.attn_output_bias, name + "attn_output_bias", 1, d);
    for (const auto& [m, what] : {std::pair{&l.attn_qkv, "attn_qkv"}, {&l.attn_output, "attn_output"}}) {
      if (!matvec_supported(m->format)) {
        throw Error("model weights: " + name + what + " has format " + format_name(m->format) +
                    ", which the runtime cannot multiply");
      }
    }
    PreparedTrixLmLayer q;
    q.attn_norm_weight = static_cast<const float*>(l.attn_norm_weight.data);
    q.attn_norm_bias = static_cast<const float*>(l.attn_norm_bias.data);
    q.attn_qkv = prepare_weight(l.attn_qkv);
    q.attn_qkv_bias = static_cast<const float*>(l.attn_qkv_bias.data);
    q.attn_output = prepare_weight(l.attn_output);
    q.attn_output_bias = static_cast<const float*>(l.attn_output_bias.data);
    q.ffn = prepare_sparse_lookup(c.ffn_dims(), l.ffn, name + "ffn_");
    p.layers.push_back(std::move(q));
  }
  if (!matvec_supported(w.token_embd.format)) {
    throw Error(std::string("model weights: token_embd has format ") + format_name(w.token_embd.format) +
                ", which the runtime cannot multiply");
  }
  p.output = prepare_weight(w.token_embd);
  return p;
}

// Shape read at run time from a TrixLmConfig.
struct TrixLmRuntimeShape {
  int64_t dim = 0, n_layers = 0, n_heads = 0, head_dim = 0, vocab_size = 0, context_length = 0;
  int64_t tiles = 0, tiles_per_cluster = 0, grid = 0, compress_hidden = 0;
  float norm_eps = 1e-5f;

  static TrixLmRuntimeShape from(const TrixLmConfig& c) {
    c.validate();
    return {c.dim, c.n_layers, c.n_heads, c.head_dim(), c.vocab_size, c.context_length,
            c.tiles, c.tiles_per_cluster, c.grid, c.compress_hidden, c.norm_eps};
  }
};

// A trix-gen model struct of architecture trix_sparse_lookup as a Shape,
// every member static constexpr.
template <class Spec>
struct TrixLmSpecShape {
  using Graph = typename Spec::Graph;
  static constexpr int64_t dim = Spec::dim;
  static constexpr int64_t n_layers = Spec::n_layers;
  static constexpr int64_t n_heads = Spec::n_heads;
  static constexpr int64_t head_dim = Spec::head_dim;
  static constexpr int64_t vocab_size = Spec::vocab;
  static constexpr int64_t context_length = Spec::context;
  static constexpr int64_t tiles = Spec::tiles;
  static constexpr int64_t tiles_per_cluster = Spec::tiles_per_cluster;
  static constexpr int64_t grid = Spec::grid;
  static constexpr int64_t compress_hidden = Spec::compress_hidden;
  static constexpr float norm_eps = Spec::norm_eps;
};

// The TrixLmConfig a Shape describes.
template <class Shape>
TrixLmConfig trix_lm_config_of(const Shape& s) {
  TrixLmConfig c;
  c.dim = s.dim;
  c.n_layers = s.n_layers;
  c.n_heads = s.n_heads;
  c.vocab_size = s.vocab_size;
  c.context_length = s.context_length;
  c.tiles = s.tiles;
  c.tiles_per_cluster = s.tiles_per_cluster;
  c.grid = s.grid;
  c.compress_hidden = s.compress_hidden;
  c.norm_eps = s.norm_eps;
  return c;
}

// One sequence's state: its KV cache and activation buffers for up to
// max_batch tokens at a time (allocated once).
struct TrixLmState {
  int64_t max_batch = 0;
  KvCache kv;
  std::vector<float> x, xn, qkv, att, proj, scores, logits;
  SparseLookupScratch ffn;
  PreparedScratch matmul;

  TrixLmState(const TrixLmConfig& c, int64_t batch, size_t n_threads)
      : max_batch(std::min(batch, c.context_length)),
        kv(c.n_layers, c.n_heads, c.head_dim(), c.context_length, KvType::F32) {
    if (batch <= 0) throw Error("trix lm state: max_batch must be > 0");
    const auto n = [&](int64_t per_token) { return static_cast<size_t>(max_batch * per_token); };
    x.resize(n(c.dim));
    xn.resize(n(c.dim));
    qkv.resize(n(3 * c.dim));
    att.resize(n(c.dim));
    proj.resize(n(c.dim));
    scores.resize(n_threads * static_cast<size_t>(c.context_length));
    logits.resize(static_cast<size_t>(c.vocab_size));
    ffn.reserve(c.ffn_dims(), max_batch);
  }
};

// Attention sub-block for n_tok tokens at positions pos0 ..: x += out_proj(
// MHA(in_proj(LayerNorm1(x)))), keys and values stored in st.kv at `layer`.
template <class Shape>
void trix_lm_attention_block(const Shape& s, const PreparedTrixLmLayer& w, int64_t layer, int64_t pos0,
                             int64_t n_tok, float* x, TrixLmState& st, ThreadPool& pool) {
  const int64_t d = s.dim;
  for (int64_t t = 0; t < n_tok; ++t) {
    cpu::ops::layernorm(x + t * d, w.attn_norm_weight, w.attn_norm_bias, st.xn.data() + t * d,
                        static_cast<size_t>(d), s.norm_eps);
  }
  matmul(w.attn_qkv, st.xn.data(), n_tok, st.qkv.data(), pool, st.matmul);
  for (int64_t t = 0; t < n_tok; ++t) {
    float* row = st.qkv.data() + t * 3 * d;
    cpu::ops::add_inplace(row, w.attn_qkv_bias, static_cast<size_t>(3 * d));
    st.kv.store(layer, pos0 + t, row + d, row + 2 * d);
  }
  const auto n_tasks = static_cast<size_t>(n_tok * s.n_heads);
  const size_t n_chunks = std::min(pool.num_threads(), n_tasks);
  const float* keys = st.kv.keys<float>(layer);
  const float* values = st.kv.values<float>(layer);
  pool.parallel_for(n_chunks, [&](size_t chunk, size_t thread) {
    const auto [begin, end] = ThreadPool::chunk(n_tasks, n_chunks, chunk);
    for (size_t task = begin; task < end; ++task) {
      const int64_t t = static_cast<int64_t>(task) / s.n_heads;
      const int64_t h = static_cast<int64_t>(task) % s.n_heads;
      cpu::ops::attention_head(st.qkv.data() + t * 3 * d + h * s.head_dim, keys + h * s.head_dim,
                               values + h * s.head_dim, static_cast<size_t>(pos0 + t + 1),
                               static_cast<size_t>(d), static_cast<size_t>(s.head_dim),
                               st.scores.data() + thread * static_cast<size_t>(st.kv.context_length()),
                               st.att.data() + t * d + h * s.head_dim);
    }
  });
  matmul(w.attn_output, st.att.data(), n_tok, st.proj.data(), pool, st.matmul);
  for (int64_t t = 0; t < n_tok; ++t) {
    cpu::ops::add_inplace(st.proj.data() + t * d, w.attn_output_bias, static_cast<size_t>(d));
  }
  cpu::ops::add_inplace(x, st.proj.data(), static_cast<size_t>(n_tok * d));
}

// The SparseLookupFFN sub-block (trix/runtime/sparse_lookup.h).
template <class Shape>
void trix_lm_sparse_lookup_block(const Shape&, const PreparedTrixLmLayer& w, int64_t n_tok, float* x,
                                 TrixLmState& st, ThreadPool& pool) {
  sparse_lookup_block(w.ffn, n_tok, x, st.ffn, pool);
}

}  // namespace trix
