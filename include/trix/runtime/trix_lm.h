// The forward pass of the TriX sparse-lookup language model (architecture
// trix_sparse_lookup): embeddings, the generated layer graph
// (generated/trix/models/graphs.h: TrixSparseLookupGraph, over the blocks of
// trix/runtime/trix_lm_blocks.h), final LayerNorm and the tied output.
//
// A Shape with a `Graph` member (TrixLmSpecShape of a trix-gen model struct,
// every size a compile-time constant) runs that graph; any other Shape
// (TrixLmRuntimeShape from a GGUF) runs TrixSparseLookupGraph. Both are the
// same generated code, so they agree bit for bit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/cpu/ops.h"
#include "trix/models/graphs.h"
#include "trix/runtime/embedding.h"
#include "trix/runtime/matmul.h"
#include "trix/runtime/trix_lm_blocks.h"

namespace trix {

// Runs `tokens` (positions pos0 ..) through the model in chunks of
// st.max_batch and leaves the logits of the last token in st.logits.
// Throws trix::Error on a token id out of [0, vocab) or positions past the
// context (the learned position embedding has no row for them); nothing is
// computed then.
template <class Shape>
std::span<const float> trix_lm_forward(const Shape& s, const PreparedTrixLm& m, std::span<const int32_t> tokens,
                                       int64_t pos0, TrixLmState& st, ThreadPool& pool) {
  if (tokens.empty()) throw Error("trix lm forward: no tokens given");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= s.vocab_size) {
      throw Error("trix lm forward: token " + std::to_string(i) + " has id " + std::to_string(tokens[i]) +
                  ", expected [0, " + std::to_string(s.vocab_size) + ")");
    }
  }
  const auto n = static_cast<int64_t>(tokens.size());
  if (pos0 < 0 || pos0 + n > s.context_length) {
    throw Error("trix lm forward: positions [" + std::to_string(pos0) + ", " + std::to_string(pos0 + n) +
                ") do not fit the context length " + std::to_string(s.context_length));
  }
  const int64_t d = s.dim;
  const auto* pos_embd = static_cast<const float*>(m.views.position_embd.data);
  int64_t last_chunk = 0;
  for (int64_t start = 0; start < n; start += st.max_batch) {
    const int64_t n_tok = std::min(st.max_batch, n - start);
    last_chunk = n_tok;
    float* x = st.x.data();
    for (int64_t t = 0; t < n_tok; ++t) {
      embedding_row(m.views.token_embd, tokens[static_cast<size_t>(start + t)], x + t * d);
      cpu::ops::add_inplace(x + t * d, pos_embd + (pos0 + start + t) * d, static_cast<size_t>(d));
    }
    for (int64_t l = 0; l < s.n_layers; ++l) {
      const PreparedTrixLmLayer& w = m.layers[static_cast<size_t>(l)];
      if constexpr (requires { typename Shape::Graph; }) {
        Shape::Graph::layer(s, w, l, pos0 + start, n_tok, x, st, pool);
      } else {
        models::TrixSparseLookupGraph::layer(s, w, l, pos0 + start, n_tok, x, st, pool);
      }
    }
  }
  float* last = st.xn.data();
  cpu::ops::layernorm(st.x.data() + (last_chunk - 1) * d, static_cast<const float*>(m.views.output_norm_weight.data),
                      static_cast<const float*>(m.views.output_norm_bias.data), last, static_cast<size_t>(d),
                      s.norm_eps);
  matvec(m.output, last, st.logits.data(), pool, st.matmul);
  return {st.logits.data(), st.logits.size()};
}

}  // namespace trix
