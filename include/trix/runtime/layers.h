// The decoder's building blocks (llama and bitnet-b1.58) over a `Shape`
// policy: attention and gated-FFN sub-blocks, the activation buffers they
// share, and the shapes. How blocks compose into a layer is not written
// here: trix-gen emits it from specs/models/*.yaml into
// generated/trix/models/graphs.h (one graph per architecture), and both the
// runtime-shaped and the compile-time (trix::models::<Name>) paths run that
// generated composition.
//
// A Shape is any type with these members, read as `s.dim` etc.:
//   arch, dim, ffn_hidden, n_layers, n_heads, n_kv_heads, head_dim,
//   vocab_size, context_length, rope_theta, rope_style, ffn_activation,
//   rms_eps.
// RuntimeShape holds them as ordinary members (built from a ModelConfig);
// SpecShape<trix::models::X> sees a model spec's static constexpr members,
// and the same blocks then see compile-time constants. Both give
// bit-identical results, because the blocks run the same code either way.
//
// Blocks (per layer, as llama.cpp's LLM_ARCH_LLAMA / LLM_ARCH_BITNET):
//   attention: x += wo(sub_norm?(attn(rope(wq n1(x)), rope(wk n1(x)), wv n1(x))))
//   gated FFN: x += w_down(sub_norm?(act(w_gate n2(x)) * w_up n2(x)))
// where a null sub_norm skips that norm and act is swiglu or relu2_gate.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/cpu/ops.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/config.h"
#include "trix/runtime/kv_cache.h"
#include "trix/runtime/matmul.h"
#include "trix/runtime/weights.h"

namespace trix {

// What a generated layer graph (trix/models/graphs.h) fixes besides the
// order of its blocks; validate_model checks a Shape against it.
struct GraphInfo {
  RopeStyle rope_style;
  FfnActivation ffn_activation;  // its spec's; the blocks run the Shape's (s.ffn_activation)
  bool sub_norms;
};

// A layer as the blocks read it: norm vectors as views, projections
// prepared for the fast kernels (prepare_weight: TQ2_0/TQ1_0 repacked,
// other formats multiplied through their view).
struct PreparedLayer {
  WeightView attn_norm, attn_sub_norm, ffn_norm, ffn_sub_norm;
  PreparedWeight wq, wk, wv, wo, w_gate, w_up, w_down;
};

// A model prepared once (at load time) and shared by every Decoder over it.
// `views` are the caller's views it was made from (into a mapping or test
// buffers, which must outlive this); the packed copies are owned here.
struct PreparedModel {
  ModelWeights views;
  std::vector<PreparedLayer> layers;
  PreparedWeight output;

  // token_embd as the forward pass reads its rows: from the output's copy
  // when the output is tied to it and was copied (so pages of the file that
  // the loader released are not read back), else the view.
  WeightView token_embd() const {
    WeightView v = views.token_embd;
    if (output.rows && output.view.data == v.data) v.data = output.rows->data();
    return v;
  }
};

// Prepares every projection of `w` (see PreparedLayer), handing the source
// bytes of what it copies to `release` (see ReleaseSource). The matrices are
// prepared in parallel on `pool` (a pool of all hardware threads when none
// is given): repacking reads every ternary byte once, about 0.8 GB for
// BitNet-2B-4T. Each matrix is prepared by one thread into its own slot, so
// the result does not depend on the thread count.
inline std::shared_ptr<const PreparedModel> prepare_model(const ModelWeights& w,
                                                          const ReleaseSource& release = {},
                                                          ThreadPool* pool = nullptr) {
  auto p = std::make_shared<PreparedModel>();
  p->views = w;
  p->layers.resize(w.layers.size());
  std::vector<std::pair<const WeightView*, PreparedWeight*>> jobs;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    PreparedLayer& q = p->layers[i];
    q.attn_norm = l.attn_norm;
    q.attn_sub_norm = l.attn_sub_norm;
    q.ffn_norm = l.ffn_norm;
    q.ffn_sub_norm = l.ffn_sub_norm;
    for (auto [view, out] : {std::pair{&l.wq, &q.wq}, {&l.wk, &q.wk}, {&l.wv, &q.wv}, {&l.wo, &q.wo},
                             {&l.w_gate, &q.w_gate}, {&l.w_up, &q.w_up}, {&l.w_down, &q.w_down}}) {
      jobs.emplace_back(view, out);
    }
  }
  jobs.emplace_back(&w.output, &p->output);
  std::optional<ThreadPool> own;
  if (!pool) pool = &own.emplace();
  // parallel_for's tasks must not throw: the first exception (an allocation
  // failure) is kept and rethrown here.
  std::mutex failed_mutex;
  std::exception_ptr failed;
  pool->parallel_for(jobs.size(), [&](size_t j, size_t) {
    try {
      *jobs[j].second = prepare_weight(*jobs[j].first, release);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failed_mutex);
      if (!failed) failed = std::current_exception();
    }
  });
  if (failed) std::rethrow_exception(failed);
  return p;
}

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
// the Shape members the blocks read, all static constexpr, and exposes the
// spec's generated layer composition as Graph.
template <class Spec>
struct SpecShape {
  using Graph = typename Spec::Graph;  // the spec's generated layer composition
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

// Activation buffers for up to max_batch tokens at a time, attending over at
// most `context` positions (the run's context, i.e. the KV cache's length:
// never the file's maximum, which a model may set to millions). Allocated
// once; the forward pass never allocates afterwards.
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
  std::vector<float> scores;   // [threads][run context] attention weights
  std::vector<float> logits;   // [vocab] of the last token
  PreparedScratch matvec_scratch;

  // A batch larger than the context could never be filled, so it is
  // clamped to the context.
  template <class Shape>
  ForwardBuffers(const Shape& s, int64_t batch, size_t n_threads, int64_t context)
      : max_batch(std::min(batch, context)) {
    if (batch <= 0) throw Error("forward buffers: max_batch must be > 0");
    if (context <= 0) throw Error("forward buffers: context must be > 0");
    batch = max_batch;
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
    scores.resize(n_threads * static_cast<size_t>(context));
    logits.resize(static_cast<size_t>(s.vocab_size));
  }

  // Bytes held by the float buffers (not counting the matvec scratch, which
  // grows with the largest projection's input, a property of the weights).
  size_t bytes() const {
    size_t n = 0;
    for (const std::vector<float>* buf : {&x, &xb, &q, &k, &v, &att, &proj, &gate, &up, &rope_cos,
                                          &rope_sin, &scores, &logits}) {
      n += buf->size() * sizeof(float);
    }
    return n;
  }
};

// ------------------------------------------------------------------ blocks

// Stores the keys/values of n_tok consecutive tokens of one sequence at
// positions pos0 .. pos0 + n_tok - 1 of `kv` (rows of b.k / b.v) and
// attends causally over [0, pos + 1) for each: b.att = attn(b.q, ...).
// Other KV stores (the paged batch of trix/serve/paged_kv.h) overload this
// in their own namespace; attention_block finds them by argument-dependent
// lookup.
template <class Shape>
void store_and_attend(const Shape& s, KvCache& kv, int64_t layer, int64_t pos0, int64_t n_tok,
                      ForwardBuffers& b, ThreadPool& pool) {
  const int64_t q_dim = s.n_heads * s.head_dim;
  const int64_t kv_dim = s.n_kv_heads * s.head_dim;
  const auto head_dim = static_cast<size_t>(s.head_dim);
  for (int64_t t = 0; t < n_tok; ++t) {
    kv.store(layer, pos0 + t, b.k.data() + t * kv_dim, b.v.data() + t * kv_dim);
  }
  // One task per (token, head): each writes its own head_dim slice of att.
  // Tasks go to threads in contiguous ranges, so the heads of one kv group
  // (adjacent h) mostly share a thread and its cached keys and values.
  const int64_t group = s.n_heads / s.n_kv_heads;
  const auto run_heads = [&](auto keys, auto values) {
    const auto n_tasks = static_cast<size_t>(n_tok * s.n_heads);
    const size_t n_chunks = std::min(pool.num_threads(), n_tasks);
    pool.parallel_for(n_chunks, [&](size_t chunk, size_t thread) {
      const auto [begin, end] = ThreadPool::chunk(n_tasks, n_chunks, chunk);
      for (size_t task = begin; task < end; ++task) {
        const int64_t t = static_cast<int64_t>(task) / s.n_heads;
        const int64_t h = static_cast<int64_t>(task) % s.n_heads;
        const int64_t kvh = h / group;
        cpu::ops::attention_head(b.q.data() + t * q_dim + h * s.head_dim, keys + kvh * s.head_dim,
                                 values + kvh * s.head_dim, static_cast<size_t>(pos0 + t + 1),
                                 static_cast<size_t>(kv_dim), head_dim,
                                 b.scores.data() + thread * static_cast<size_t>(kv.context_length()),
                                 b.att.data() + t * q_dim + h * s.head_dim);
      }
    });
  };
  if (kv.type() == KvType::F32) {
    run_heads(kv.keys<float>(layer), kv.values<float>(layer));
  } else {
    run_heads(kv.keys<uint16_t>(layer), kv.values<uint16_t>(layer));
  }
}

// Self-attention sub-block for n_tok tokens (decode: n_tok = 1): x +=
// wo(...) in place. With a KvCache the tokens are consecutive, at positions
// pos0 .. pos0 + n_tok - 1; other KV stores say per token where it is (and
// ignore pos0). Stores their keys/values in `kv` at `layer` and attends
// causally (store_and_attend). Preconditions: buffers sized for n_tok,
// b.rope_cos/sin filled by rope_table for each token's position (forward()
// does this once for all layers), the positions fit `kv` (checked by the
// caller). `rope_style` pairs the rotated elements; `sub_norm` (q_dim f32
// weights, bitnet's attn_sub_norm) normalises the attention output before
// wo, or is null.
template <class Shape, class Kv>
void attention_block(const Shape& s, const PreparedLayer& w, int64_t layer, int64_t pos0,
                     int64_t n_tok, float* x, Kv& kv, ForwardBuffers& b, ThreadPool& pool,
                     RopeStyle rope_style, const float* sub_norm) {
  const int64_t q_dim = s.n_heads * s.head_dim;
  const int64_t kv_dim = s.n_kv_heads * s.head_dim;
  const auto* attn_norm = static_cast<const float*>(w.attn_norm.data);
  const auto dim = static_cast<size_t>(s.dim);
  for (int64_t t = 0; t < n_tok; ++t) {
    cpu::ops::rmsnorm(x + t * s.dim, attn_norm, b.xb.data() + t * s.dim, dim, s.rms_eps);
  }
  matmul(w.wq, b.xb.data(), n_tok, b.q.data(), pool, b.matvec_scratch);
  matmul(w.wk, b.xb.data(), n_tok, b.k.data(), pool, b.matvec_scratch);
  matmul(w.wv, b.xb.data(), n_tok, b.v.data(), pool, b.matvec_scratch);
  const int64_t half = s.head_dim / 2;
  const auto head_dim = static_cast<size_t>(s.head_dim);
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* c = b.rope_cos.data() + t * half;
    const float* sn = b.rope_sin.data() + t * half;
    float* qt = b.q.data() + t * q_dim;
    float* kt = b.k.data() + t * kv_dim;
    if (rope_style == RopeStyle::NeoxHalves) {
      cpu::ops::rope_neox(qt, static_cast<size_t>(s.n_heads), head_dim, c, sn);
      cpu::ops::rope_neox(kt, static_cast<size_t>(s.n_kv_heads), head_dim, c, sn);
    } else {
      cpu::ops::rope_adjacent(qt, static_cast<size_t>(s.n_heads), head_dim, c, sn);
      cpu::ops::rope_adjacent(kt, static_cast<size_t>(s.n_kv_heads), head_dim, c, sn);
    }
  }
  store_and_attend(s, kv, layer, pos0, n_tok, b, pool);

  if (sub_norm != nullptr) {
    for (int64_t t = 0; t < n_tok; ++t) {
      float* a = b.att.data() + t * q_dim;
      cpu::ops::rmsnorm(a, sub_norm, a, static_cast<size_t>(q_dim), s.rms_eps);
    }
  }
  matmul(w.wo, b.att.data(), n_tok, b.proj.data(), pool, b.matvec_scratch);
  cpu::ops::add_inplace(x, b.proj.data(), static_cast<size_t>(n_tok * s.dim));
}

// Gated FFN sub-block: x += w_down(sub_norm?(act(w_gate n(x)) * w_up n(x))).
// `act` is SiLU (swiglu) or ReluSquared (relu2_gate); `sub_norm` may be null
// (llama).
template <class Shape>
void ffn_gated_block(const Shape& s, const PreparedLayer& w, int64_t n_tok, float* x,
                     const float* sub_norm, FfnActivation act, ForwardBuffers& b,
                     ThreadPool& pool) {
  const auto* ffn_norm = static_cast<const float*>(w.ffn_norm.data);
  for (int64_t t = 0; t < n_tok; ++t) {
    cpu::ops::rmsnorm(x + t * s.dim, ffn_norm, b.xb.data() + t * s.dim, static_cast<size_t>(s.dim),
                      s.rms_eps);
  }
  matmul(w.w_gate, b.xb.data(), n_tok, b.gate.data(), pool, b.matvec_scratch);
  matmul(w.w_up, b.xb.data(), n_tok, b.up.data(), pool, b.matvec_scratch);
  const auto n = static_cast<size_t>(n_tok * s.ffn_hidden);
  if (act == FfnActivation::SiLU) {
    cpu::ops::swiglu(b.gate.data(), b.up.data(), n);
  } else {
    cpu::ops::relu2_gate(b.gate.data(), b.up.data(), n);
  }
  if (sub_norm != nullptr) {
    for (int64_t t = 0; t < n_tok; ++t) {
      float* g = b.gate.data() + t * s.ffn_hidden;
      cpu::ops::rmsnorm(g, sub_norm, g, static_cast<size_t>(s.ffn_hidden), s.rms_eps);
    }
  }
  matmul(w.w_down, b.gate.data(), n_tok, b.proj.data(), pool, b.matvec_scratch);
  cpu::ops::add_inplace(x, b.proj.data(), static_cast<size_t>(n_tok * s.dim));
}

}  // namespace trix
