// The decoder forward pass: runs the generated layer composition
// (generated/trix/models/graphs.h, from specs/models/*.yaml) over the layer
// blocks of trix/runtime/layers.h. One sequence's state and generate() are
// in trix/runtime/decoder.h.
//
// Which composition runs: a Shape with a `Graph` member (SpecShape of a
// trix-gen model struct) runs that graph, fixed at compile time; any other
// Shape (RuntimeShape from a GGUF) runs the graph of its architecture,
// chosen by trix::models::arch_layer at run time. Both are the same
// generated code, so they agree bit for bit.
// Logits = output(norm(x)) of the last token.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/layers.h"
#include "trix/runtime/config.h"
#include "trix/runtime/kv_cache.h"
#include "trix/runtime/matmul.h"
#include "trix/runtime/weights.h"
#include "trix/models/graphs.h"
namespace trix {

// The graph a Shape runs (see the file comment).
template <class Shape>
GraphInfo graph_info_of(const Shape& s) {
  if constexpr (requires { typename Shape::Graph; }) {
    return Shape::Graph::kInfo;
  } else {
    return models::arch_graph(s.arch);
  }
}

// One transformer layer for n_tok tokens (see attention_block; Kv is a
// KvCache or another KV store with a store_and_attend overload).
template <class Shape, class Kv>
void run_layer(const Shape& s, const PreparedLayer& w, int64_t layer, int64_t pos0, int64_t n_tok,
               float* x, Kv& kv, ForwardBuffers& b, ThreadPool& pool) {
  if constexpr (requires { typename Shape::Graph; }) {
    Shape::Graph::layer(s, w, layer, pos0, n_tok, x, kv, b, pool);
  } else {
    models::arch_layer(s, w, layer, pos0, n_tok, x, kv, b, pool);
  }
}

// Runs `tokens` (positions pos0 ..) through the model, in chunks of
// b.max_batch, and leaves the logits of the last token in b.logits.
// Throws trix::Error if a token id is out of [0, vocab) or the positions do
// not fit the KV cache; nothing is computed then.
template <class Shape>
std::span<const float> forward(const Shape& s, const PreparedModel& w,
                               std::span<const int32_t> tokens, int64_t pos0, KvCache& kv,
                               ForwardBuffers& b, ThreadPool& pool) {
  if (tokens.empty()) throw Error("forward: no tokens given");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= s.vocab_size) {
      throw Error("forward: token " + std::to_string(i) + " has id " + std::to_string(tokens[i]) +
                  ", expected [0, " + std::to_string(s.vocab_size) + ")");
    }
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (pos0 < 0 || pos0 + n > kv.context_length()) {
    throw Error("forward: positions [" + std::to_string(pos0) + ", " + std::to_string(pos0 + n) +
                ") do not fit the context length " + std::to_string(kv.context_length()));
  }
  int64_t last_chunk = 0;
  for (int64_t start = 0; start < n; start += b.max_batch) {
    const int64_t n_tok = std::min(b.max_batch, n - start);
    last_chunk = n_tok;
    float* x = b.x.data();
    const int64_t half = s.head_dim / 2;
    for (int64_t t = 0; t < n_tok; ++t) {
      embedding_row(w.token_embd(), tokens[static_cast<size_t>(start + t)], x + t * s.dim);
      rope_table(pos0 + start + t, s.head_dim, s.rope_theta, b.rope_cos.data() + t * half,
                 b.rope_sin.data() + t * half);
    }
    for (int64_t l = 0; l < s.n_layers; ++l) {
      run_layer(s, w.layers[static_cast<size_t>(l)], l, pos0 + start, n_tok, x, kv, b, pool);
    }
  }
  // Only the last token's logits are needed to continue generation.
  float* last = b.xb.data();
  cpu::ops::rmsnorm(b.x.data() + (last_chunk - 1) * s.dim, static_cast<const float*>(w.views.output_norm.data),
                    last, static_cast<size_t>(s.dim), s.rms_eps);
  matvec(w.output, last, b.logits.data(), pool, b.matvec_scratch);
  return {b.logits.data(), b.logits.size()};
}

// Throws trix::Error unless `w` fits the shape, every matrix format has a
// matvec path, and the shape's RoPE style is the one the graph it runs uses
// (the graph fixes it; a mismatch means a shape built by hand for another
// architecture). The FFN activation is the shape's (a bitnet file may state
// its own, see trix/runtime/loader.h); a spec-shaped model's must still be
// its spec's graph's.
template <class Shape>
void validate_model(const Shape& s, const ModelWeights& w) {
  validate_weights(config_of(s), w);
  const GraphInfo g = graph_info_of(s);
  bool activation_ok = true;
  if constexpr (requires { typename Shape::Graph; }) activation_ok = s.ffn_activation == g.ffn_activation;
  if (s.rope_style != g.rope_style || !activation_ok) {
    throw Error(std::string("model shape: the ") + arch_name(s.arch) +
                " graph uses another RoPE style or FFN activation than the shape asks for");
  }
  const auto need = [](const WeightView& m, const std::string& name) {
    if (!matvec_supported(m.format)) {
      throw Error(std::string("model weights: ") + name + " has format " + format_name(m.format) +
                  ", which the runtime cannot multiply yet");
    }
  };
  need(w.token_embd, "token_embd");
  need(w.output, "output");
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "layer " + std::to_string(i) + " ";
    need(l.wq, p + "wq");
    need(l.wk, p + "wk");
    need(l.wv, p + "wv");
    need(l.wo, p + "wo");
    need(l.w_gate, p + "w_gate");
    need(l.w_up, p + "w_up");
    need(l.w_down, p + "w_down");
  }
}

}  // namespace trix
