// The decoder forward pass: runs the generated layer composition
// (generated/trix/models/graphs.h, from specs/models/*.yaml) over the blocks
// of trix/model/blocks.h, plus a Decoder that owns one sequence's KV cache
// and buffers, and generate().
//
// Which composition runs: a Shape with a `Graph` member (SpecShape of a
// trix-gen model struct) runs that graph, fixed at compile time; any other
// Shape (RuntimeShape from a GGUF) runs the graph of its architecture,
// chosen by trix::models::arch_layer at run time. Both are the same
// generated code, so they agree bit for bit.
// Logits = output(norm(x)) of the last token.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/cpu/thread_pool.h"
#include "trix/model/blocks.h"
#include "trix/model/config.h"
#include "trix/model/kv_cache.h"
#include "trix/model/ops.h"
#include "trix/model/sampler.h"
#include "trix/model/weights.h"
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

// One transformer layer for n_tok tokens (see attention_block).
template <class Shape>
void run_layer(const Shape& s, const PreparedLayer& w, int64_t layer, int64_t pos0, int64_t n_tok,
               float* x, KvCache& kv, ForwardBuffers& b, ThreadPool& pool) {
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
      embedding_row(w.views.token_embd, tokens[static_cast<size_t>(start + t)], x + t * s.dim);
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
// matvec path, and the shape's RoPE style and FFN activation are the ones
// the graph it runs uses (the graph fixes them; a mismatch means a shape
// built by hand for another architecture).
template <class Shape>
void validate_model(const Shape& s, const ModelWeights& w) {
  validate_weights(config_of(s), w);
  const GraphInfo g = graph_info_of(s);
  if (s.rope_style != g.rope_style || s.ffn_activation != g.ffn_activation) {
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

// One sequence being decoded: a prepared model (shared), its KV cache and
// buffers.
template <class Shape = RuntimeShape>
class Decoder {
 public:
  // Validates `prepared` against `shape` (throws trix::Error). context_length
  // is the run's context (e.g. prompt + tokens to generate): the KV cache and
  // the attention scratch are sized by it, capped at the shape's. 0 means the
  // shape's, which a file may set to millions: pass the run's. Any number of
  // decoders may share one prepared model.
  Decoder(const Shape& shape, std::shared_ptr<const PreparedModel> prepared, ThreadPool& pool,
          KvType kv_type = KvType::F32, int64_t max_batch = 64, int64_t context_length = 0)
      : shape_(shape),
        model_(std::move(prepared)),
        pool_(pool),
        kv_(shape.n_layers, shape.n_kv_heads, shape.head_dim,
            context_length > 0 ? std::min<int64_t>(context_length, shape.context_length)
                               : shape.context_length,
            kv_type),
        buffers_(shape, max_batch, pool.num_threads(), kv_.context_length()) {
    if (!model_) throw Error("decoder: no prepared model given");
    validate_model(shape_, model_->views);
  }

  // Prepares `weights` for this decoder alone (repacks the ternary formats;
  // share a prepare_model() result instead when several decoders run one
  // model). The decoder keeps views into the weights' storage.
  Decoder(const Shape& shape, const ModelWeights& weights, ThreadPool& pool,
          KvType kv_type = KvType::F32, int64_t max_batch = 64, int64_t context_length = 0)
      : Decoder(shape, checked_prepare(shape, weights), pool, kv_type, max_batch, context_length) {}

  // The decoder keeps views of the weights' storage: a temporary would dangle.
  Decoder(const Shape&, ModelWeights&&, ThreadPool&, KvType = KvType::F32, int64_t = 64,
          int64_t = 0) = delete;

  const Shape& shape() const { return shape_; }
  int64_t pos() const { return pos_; }
  int64_t context_length() const { return kv_.context_length(); }
  const KvCache& kv_cache() const { return kv_; }
  // Memory this run holds: the KV cache, and the activation and attention
  // buffers (both proportional to the run's context, not the file's).
  size_t kv_bytes() const { return kv_.bytes(); }
  size_t scratch_bytes() const { return buffers_.bytes(); }
  void reset() { pos_ = 0; }

  // Appends tokens at pos() and returns the last one's logits (valid until
  // the next call). Throws trix::Error if they do not fit the context.
  std::span<const float> prefill(std::span<const int32_t> tokens) {
    auto logits = forward(shape_, *model_, tokens, pos_, kv_, buffers_, pool_);
    pos_ += static_cast<int64_t>(tokens.size());
    return logits;
  }
  std::span<const float> decode(int32_t token) { return prefill(std::span<const int32_t>(&token, 1)); }

 private:
  // Validation first: repacking assumes validated shapes.
  static std::shared_ptr<const PreparedModel> checked_prepare(const Shape& shape,
                                                              const ModelWeights& weights) {
    validate_model(shape, weights);
    return prepare_model(weights);
  }

  Shape shape_;
  std::shared_ptr<const PreparedModel> model_;
  ThreadPool& pool_;
  KvCache kv_;
  ForwardBuffers buffers_;
  int64_t pos_ = 0;
};

// What generate() was asked to do and why it stopped.
struct GenerateOptions {
  int64_t max_new_tokens = 256;
  int32_t eos_id = -1;  // stop when this id is sampled (not emitted); -1: never
};

enum class StopReason : uint8_t { MaxTokens, Eos, ContextFull, Callback };

struct GenerateResult {
  std::vector<int32_t> tokens;  // the generated ids (prompt and EOS excluded)
  StopReason stop = StopReason::MaxTokens;
  // Wall-clock split: the prompt's forward pass (plus the first sample), and
  // the n_decoded single-token forward passes (plus their samples) after it.
  int64_t n_prompt = 0;
  double prompt_seconds = 0.0;
  int64_t n_decoded = 0;
  double decode_seconds = 0.0;
};

// Throws trix::Error if `logits` hold a NaN or an infinity: a broken model
// (NaN or huge weights) would otherwise sample garbage forever. `step` is the
// number of tokens generated before these logits (0: the prompt's).
inline void check_logits_finite(std::span<const float> logits, int64_t step) {
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (!std::isfinite(v)) {
      const char* what = std::isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf";
      throw Error("generate: step " + std::to_string(step) + ": logits are not finite (" + what +
                  " at token id " + std::to_string(i) + "); the model's weights are broken");
    }
  }
}

// Feeds `prompt` (at least one id, e.g. BOS) through `dec`, then samples and
// feeds one token at a time. Each new id is passed to on_token, which returns
// false to stop (its time is not counted). The repetition penalty sees
// prompt + generated ids. Throws trix::Error on an empty prompt or one that
// does not fit the context, and on logits that are not finite (naming the
// step, see check_logits_finite).
template <class Shape>
GenerateResult generate(Decoder<Shape>& dec, Sampler& sampler, std::span<const int32_t> prompt,
                        const GenerateOptions& opt,
                        const std::function<bool(int32_t)>& on_token = {}) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  if (prompt.empty()) throw Error("generate: the prompt must hold at least one token (e.g. BOS)");
  GenerateResult out;
  out.n_prompt = static_cast<int64_t>(prompt.size());
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  auto t0 = Clock::now();
  std::span<const float> logits = dec.prefill(prompt);
  std::vector<float> work(logits.size());
  bool first = true;
  const auto account = [&] {
    const auto t1 = Clock::now();
    (first ? out.prompt_seconds : out.decode_seconds) += seconds(t0, t1);
    first = false;
  };
  while (static_cast<int64_t>(out.tokens.size()) < opt.max_new_tokens) {
    check_logits_finite(logits, static_cast<int64_t>(out.tokens.size()));
    std::copy(logits.begin(), logits.end(), work.begin());
    const int32_t next = sampler.sample(work, history);
    account();
    if (next == opt.eos_id) {
      out.stop = StopReason::Eos;
      return out;
    }
    out.tokens.push_back(next);
    history.push_back(next);
    if (on_token && !on_token(next)) {
      out.stop = StopReason::Callback;
      return out;
    }
    if (static_cast<int64_t>(out.tokens.size()) >= opt.max_new_tokens) break;
    if (dec.pos() >= dec.context_length()) {
      out.stop = StopReason::ContextFull;
      return out;
    }
    t0 = Clock::now();
    logits = dec.decode(next);
    ++out.n_decoded;
  }
  out.stop = StopReason::MaxTokens;
  return out;
}

}  // namespace trix
