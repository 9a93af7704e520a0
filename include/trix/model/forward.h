// The decoder forward pass (llama and bitnet-b1.58) as reusable blocks over a
// `Shape` policy, plus a Decoder that owns one sequence's KV cache and
// buffers.
//
// A Shape is any type with these members, read as `s.dim` etc.:
//   arch, dim, ffn_hidden, n_layers, n_heads, n_kv_heads, head_dim,
//   vocab_size, context_length, rope_theta, rope_style, ffn_activation,
//   rms_eps.
// RuntimeShape holds them as ordinary members (built from a ModelConfig);
// a model spec can emit a struct with `static constexpr` members instead,
// and the same blocks then see compile-time constants. Both give
// bit-identical results, because the blocks run the same code either way.
//
// Graph (per layer, as llama.cpp's LLM_ARCH_LLAMA / LLM_ARCH_BITNET):
//   h   = x + wo(sub_norm?(attn(rope(wq n1(x)), rope(wk n1(x)), wv n1(x))))
//   out = h + w_down(sub_norm?(act(w_gate n2(h)) * w_up n2(h)))
// where sub_norm (attn_sub_norm, ffn_sub_norm) exists only for bitnet and act
// is SiLU or relu^2 (ModelConfig::ffn_activation). Logits = output(norm(x)).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/cpu/thread_pool.h"
#include "trix/model/config.h"
#include "trix/model/kv_cache.h"
#include "trix/model/ops.h"
#include "trix/model/sampler.h"
#include "trix/model/weights.h"

namespace trix {

// Shape read at run time from a ModelConfig.
struct RuntimeShape {
  Arch arch = Arch::Llama;
  int64_t dim = 0, ffn_hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t vocab_size = 0, context_length = 0;
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::Adjacent;
  FfnActivation ffn_activation = FfnActivation::SiLU;
  float rms_eps = 1e-5f;

  static RuntimeShape from(const ModelConfig& c) {
    c.validate();
    RuntimeShape s;
    s.arch = c.arch;
    s.dim = c.dim;
    s.ffn_hidden = c.ffn_hidden;
    s.n_layers = c.n_layers;
    s.n_heads = c.n_heads;
    s.n_kv_heads = c.n_kv_heads;
    s.head_dim = c.head_dim;
    s.vocab_size = c.vocab_size;
    s.context_length = c.context_length;
    s.rope_theta = c.rope_theta;
    s.rope_style = c.rope_style;
    s.ffn_activation = c.ffn_activation;
    s.rms_eps = c.rms_eps;
    return s;
  }
};

// Adapts a model struct generated from specs/models/*.yaml (trix-gen's
// trix::models::<Name>: dim, ffn_dim, n_layers, n_heads, n_kv_heads, head_dim,
// vocab, context, rope_theta, rms_eps, kArchitecture, kRopeNeox, kSwiGLU) to
// the Shape members the blocks read, all static constexpr.
template <class Spec>
struct SpecShape {
  static constexpr Arch arch = std::string_view(Spec::kArchitecture) == "bitnet-b1.58"
                                   ? Arch::BitnetB158
                                   : Arch::Llama;
  static constexpr int64_t dim = Spec::dim;
  static constexpr int64_t ffn_hidden = Spec::ffn_dim;
  static constexpr int64_t n_layers = Spec::n_layers;
  static constexpr int64_t n_heads = Spec::n_heads;
  static constexpr int64_t n_kv_heads = Spec::n_kv_heads;
  static constexpr int64_t head_dim = Spec::head_dim;
  static constexpr int64_t vocab_size = Spec::vocab;
  static constexpr int64_t context_length = Spec::context;
  static constexpr float rope_theta = Spec::rope_theta;
  static constexpr RopeStyle rope_style = Spec::kRopeNeox ? RopeStyle::NeoxHalves : RopeStyle::Adjacent;
  static constexpr FfnActivation ffn_activation =
      Spec::kSwiGLU ? FfnActivation::SiLU : FfnActivation::ReluSquared;
  static constexpr float rms_eps = Spec::rms_eps;
};

// The ModelConfig a Shape describes (for validation against weights).
template <class Shape>
ModelConfig config_of(const Shape& s, bool tied_output = true) {
  ModelConfig c;
  c.arch = s.arch;
  c.dim = s.dim;
  c.ffn_hidden = s.ffn_hidden;
  c.n_layers = s.n_layers;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.n_kv_heads;
  c.head_dim = s.head_dim;
  c.vocab_size = s.vocab_size;
  c.context_length = s.context_length;
  c.rope_theta = s.rope_theta;
  c.rope_style = s.rope_style;
  c.ffn_activation = s.ffn_activation;
  c.rms_eps = s.rms_eps;
  c.tied_output = tied_output;
  return c;
}

// Activation buffers for up to max_batch tokens at a time. Allocated once;
// the forward pass never allocates afterwards.
struct ForwardBuffers {
  int64_t max_batch = 0;
  std::vector<float> x;        // [batch][dim] residual stream
  std::vector<float> xb;       // [batch][dim] normed input of a projection
  std::vector<float> q;        // [batch][q_dim]
  std::vector<float> k;        // [batch][kv_dim]
  std::vector<float> v;        // [batch][kv_dim]
  std::vector<float> att;      // [batch][q_dim] attention output
  std::vector<float> proj;     // [batch][dim] wo / w_down output
  std::vector<float> gate;     // [batch][ffn_hidden]
  std::vector<float> up;       // [batch][ffn_hidden]
  std::vector<float> rope_cos; // [batch][head_dim / 2] of each token's position
  std::vector<float> rope_sin;
  std::vector<float> scores;   // [threads][context] attention weights
  std::vector<float> logits;   // [vocab] of the last token
  MatvecScratch matvec_scratch;

  template <class Shape>
  ForwardBuffers(const Shape& s, int64_t batch, size_t n_threads) : max_batch(batch) {
    if (batch <= 0) throw Error("forward buffers: max_batch must be > 0");
    const auto n = [&](int64_t per_token) { return static_cast<size_t>(batch * per_token); };
    x.resize(n(s.dim));
    xb.resize(n(s.dim));
    q.resize(n(s.n_heads * s.head_dim));
    k.resize(n(s.n_kv_heads * s.head_dim));
    v.resize(n(s.n_kv_heads * s.head_dim));
    att.resize(n(s.n_heads * s.head_dim));
    proj.resize(n(s.dim));
    gate.resize(n(s.ffn_hidden));
    up.resize(n(s.ffn_hidden));
    rope_cos.resize(n(s.head_dim / 2));
    rope_sin.resize(n(s.head_dim / 2));
    scores.resize(n_threads * static_cast<size_t>(s.context_length));
    logits.resize(static_cast<size_t>(s.vocab_size));
  }
};

// ------------------------------------------------------------------ blocks

// Self-attention sub-block for n_tok consecutive tokens at positions
// pos0 .. pos0 + n_tok - 1 (decode: n_tok = 1): x += wo(...) in place.
// Stores their keys/values in `kv` at `layer` and attends causally over
// [0, pos + 1). Preconditions: buffers sized for n_tok, b.rope_cos/sin
// filled by rope_table for each token's position (forward() does this once
// for all layers), pos0 + n_tok <= kv.context_length() (checked by the
// caller).
template <class Shape>
void attention_block(const Shape& s, const LayerWeights& w, int64_t layer, int64_t pos0,
                     int64_t n_tok, float* x, KvCache& kv, ForwardBuffers& b, ThreadPool& pool) {
  const int64_t q_dim = s.n_heads * s.head_dim;
  const int64_t kv_dim = s.n_kv_heads * s.head_dim;
  const auto* attn_norm = static_cast<const float*>(w.attn_norm.data);
  for (int64_t t = 0; t < n_tok; ++t) {
    rmsnorm(x + t * s.dim, attn_norm, b.xb.data() + t * s.dim, s.dim, s.rms_eps);
  }
  matmul(w.wq, b.xb.data(), n_tok, b.q.data(), pool, b.matvec_scratch);
  matmul(w.wk, b.xb.data(), n_tok, b.k.data(), pool, b.matvec_scratch);
  matmul(w.wv, b.xb.data(), n_tok, b.v.data(), pool, b.matvec_scratch);
  const int64_t half = s.head_dim / 2;
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* c = b.rope_cos.data() + t * half;
    const float* sn = b.rope_sin.data() + t * half;
    rope_apply(b.q.data() + t * q_dim, s.n_heads, s.head_dim, c, sn, s.rope_style);
    rope_apply(b.k.data() + t * kv_dim, s.n_kv_heads, s.head_dim, c, sn, s.rope_style);
    kv.store(layer, pos0 + t, b.k.data() + t * kv_dim, b.v.data() + t * kv_dim);
  }

  // One task per (token, head): each writes its own head_dim slice of att.
  const int64_t group = s.n_heads / s.n_kv_heads;
  const auto run_heads = [&](auto keys, auto values) {
    pool.parallel_for(static_cast<size_t>(n_tok * s.n_heads), [&](size_t task, size_t thread) {
      const int64_t t = static_cast<int64_t>(task) / s.n_heads;
      const int64_t h = static_cast<int64_t>(task) % s.n_heads;
      const int64_t kvh = h / group;
      attention_head(b.q.data() + t * q_dim + h * s.head_dim, keys + kvh * s.head_dim,
                     values + kvh * s.head_dim, pos0 + t + 1, kv_dim, s.head_dim,
                     b.scores.data() + thread * static_cast<size_t>(kv.context_length()),
                     b.att.data() + t * q_dim + h * s.head_dim);
    });
  };
  if (kv.type() == KvType::F32) {
    run_heads(kv.keys<float>(layer), kv.values<float>(layer));
  } else {
    run_heads(kv.keys<uint16_t>(layer), kv.values<uint16_t>(layer));
  }

  if (s.arch == Arch::BitnetB158) {
    const auto* sub = static_cast<const float*>(w.attn_sub_norm.data);
    for (int64_t t = 0; t < n_tok; ++t) {
      rmsnorm(b.att.data() + t * q_dim, sub, b.att.data() + t * q_dim, q_dim, s.rms_eps);
    }
  }
  matmul(w.wo, b.att.data(), n_tok, b.proj.data(), pool, b.matvec_scratch);
  add_inplace(x, b.proj.data(), n_tok * s.dim);
}

// Gated FFN sub-block: x += w_down(sub_norm?(act(w_gate n(x)) * w_up n(x))).
// `act` is swiglu or relu2_gate; `sub_norm` may be null (llama).
template <class Shape, class Activation>
void ffn_gated_block(const Shape& s, const LayerWeights& w, int64_t n_tok, float* x,
                     const float* sub_norm, Activation&& act, ForwardBuffers& b,
                     ThreadPool& pool) {
  const auto* ffn_norm = static_cast<const float*>(w.ffn_norm.data);
  for (int64_t t = 0; t < n_tok; ++t) {
    rmsnorm(x + t * s.dim, ffn_norm, b.xb.data() + t * s.dim, s.dim, s.rms_eps);
  }
  matmul(w.w_gate, b.xb.data(), n_tok, b.gate.data(), pool, b.matvec_scratch);
  matmul(w.w_up, b.xb.data(), n_tok, b.up.data(), pool, b.matvec_scratch);
  act(b.gate.data(), b.up.data(), n_tok * s.ffn_hidden);
  if (sub_norm != nullptr) {
    for (int64_t t = 0; t < n_tok; ++t) {
      float* g = b.gate.data() + t * s.ffn_hidden;
      rmsnorm(g, sub_norm, g, s.ffn_hidden, s.rms_eps);
    }
  }
  matmul(w.w_down, b.gate.data(), n_tok, b.proj.data(), pool, b.matvec_scratch);
  add_inplace(x, b.proj.data(), n_tok * s.dim);
}

// Llama FFN: x += w_down(silu(w_gate n(x)) * w_up n(x)).
template <class Shape>
void ffn_swiglu_block(const Shape& s, const LayerWeights& w, int64_t n_tok, float* x,
                      ForwardBuffers& b, ThreadPool& pool) {
  ffn_gated_block(s, w, n_tok, x, nullptr, swiglu, b, pool);
}

// BitNet b1.58 FFN: x += w_down(ffn_sub_norm(relu(w_gate n(x))^2 * w_up n(x))).
template <class Shape>
void ffn_relu2_block(const Shape& s, const LayerWeights& w, int64_t n_tok, float* x,
                     ForwardBuffers& b, ThreadPool& pool) {
  ffn_gated_block(s, w, n_tok, x, static_cast<const float*>(w.ffn_sub_norm.data), relu2_gate, b,
                  pool);
}

// One transformer layer for n_tok tokens (see attention_block).
template <class Shape>
void layer_block(const Shape& s, const LayerWeights& w, int64_t layer, int64_t pos0,
                 int64_t n_tok, float* x, KvCache& kv, ForwardBuffers& b, ThreadPool& pool) {
  attention_block(s, w, layer, pos0, n_tok, x, kv, b, pool);
  const float* sub =
      s.arch == Arch::BitnetB158 ? static_cast<const float*>(w.ffn_sub_norm.data) : nullptr;
  if (s.ffn_activation == FfnActivation::ReluSquared) {
    ffn_gated_block(s, w, n_tok, x, sub, relu2_gate, b, pool);
  } else {
    ffn_gated_block(s, w, n_tok, x, sub, swiglu, b, pool);
  }
}

// Runs `tokens` (positions pos0 ..) through the model, in chunks of
// b.max_batch, and leaves the logits of the last token in b.logits.
// Throws trix::Error if a token id is out of [0, vocab) or the positions do
// not fit the KV cache; nothing is computed then.
template <class Shape>
std::span<const float> forward(const Shape& s, const ModelWeights& w,
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
      embedding_row(w.token_embd, tokens[static_cast<size_t>(start + t)], x + t * s.dim);
      rope_table(pos0 + start + t, s.head_dim, s.rope_theta, b.rope_cos.data() + t * half,
                 b.rope_sin.data() + t * half);
    }
    for (int64_t l = 0; l < s.n_layers; ++l) {
      layer_block(s, w.layers[static_cast<size_t>(l)], l, pos0 + start, n_tok, x, kv, b, pool);
    }
  }
  // Only the last token's logits are needed to continue generation.
  float* last = b.xb.data();
  rmsnorm(b.x.data() + (last_chunk - 1) * s.dim, static_cast<const float*>(w.output_norm.data),
          last, s.dim, s.rms_eps);
  matvec(w.output, last, b.logits.data(), pool, b.matvec_scratch);
  return {b.logits.data(), b.logits.size()};
}

// Throws trix::Error unless `w` fits the shape and every matrix format has a
// matvec path.
template <class Shape>
void validate_model(const Shape& s, const ModelWeights& w) {
  validate_weights(config_of(s), w);
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

// One sequence being decoded: weights (not owned), its KV cache, buffers.
template <class Shape = RuntimeShape>
class Decoder {
 public:
  // Validates `weights` against `shape` (throws trix::Error). context_length
  // 0 means the shape's; a smaller value saves KV memory.
  Decoder(const Shape& shape, const ModelWeights& weights, ThreadPool& pool,
          KvType kv_type = KvType::F32, int64_t max_batch = 64, int64_t context_length = 0)
      : shape_(shape),
        weights_(weights),
        pool_(pool),
        kv_(shape.n_layers, shape.n_kv_heads, shape.head_dim,
            context_length > 0 ? std::min<int64_t>(context_length, shape.context_length)
                               : shape.context_length,
            kv_type),
        buffers_(shape, max_batch, pool.num_threads()) {
    validate_model(shape_, weights_);
  }

  // The decoder keeps a reference to the weights: a temporary would dangle.
  Decoder(const Shape&, ModelWeights&&, ThreadPool&, KvType = KvType::F32, int64_t = 64,
          int64_t = 0) = delete;

  const Shape& shape() const { return shape_; }
  int64_t pos() const { return pos_; }
  int64_t context_length() const { return kv_.context_length(); }
  const KvCache& kv_cache() const { return kv_; }
  void reset() { pos_ = 0; }

  // Appends tokens at pos() and returns the last one's logits (valid until
  // the next call). Throws trix::Error if they do not fit the context.
  std::span<const float> prefill(std::span<const int32_t> tokens) {
    auto logits = forward(shape_, weights_, tokens, pos_, kv_, buffers_, pool_);
    pos_ += static_cast<int64_t>(tokens.size());
    return logits;
  }
  std::span<const float> decode(int32_t token) { return prefill(std::span<const int32_t>(&token, 1)); }

 private:
  Shape shape_;
  const ModelWeights& weights_;
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
};

// Feeds `prompt` (at least one id, e.g. BOS) through `dec`, then samples and
// feeds one token at a time. Each new id is passed to on_token, which returns
// false to stop. The repetition penalty sees prompt + generated ids. Throws
// trix::Error on an empty prompt or one that does not fit the context.
template <class Shape>
GenerateResult generate(Decoder<Shape>& dec, Sampler& sampler, std::span<const int32_t> prompt,
                        const GenerateOptions& opt,
                        const std::function<bool(int32_t)>& on_token = {}) {
  if (prompt.empty()) throw Error("generate: the prompt must hold at least one token (e.g. BOS)");
  GenerateResult out;
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::span<const float> logits = dec.prefill(prompt);
  std::vector<float> work(logits.size());
  while (static_cast<int64_t>(out.tokens.size()) < opt.max_new_tokens) {
    std::copy(logits.begin(), logits.end(), work.begin());
    const int32_t next = sampler.sample(work, history);
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
    logits = dec.decode(next);
  }
  out.stop = StopReason::MaxTokens;
  return out;
}

}  // namespace trix
