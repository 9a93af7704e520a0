// A Decoder owns one sequence being decoded: a prepared model (shared), its
// KV cache and buffers; generate() runs prompt + sampling on it.
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
#include "trix/core/thread_pool.h"
#include "trix/runtime/config.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/kv_cache.h"
#include "trix/runtime/layers.h"
#include "trix/runtime/sampler.h"
#include "trix/runtime/weights.h"
namespace trix {

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
  // Further ids that stop the same way: the model's end-of-generation set,
  // Tokenizer::eog_ids() (eot, eom, <|eot_id|>, ...).
  std::vector<int32_t> stop_ids;

  bool stops_on(int32_t id) const {
    return id == eos_id || std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end();
  }
};

// Eos: an id of GenerateOptions' eos_id / stop_ids was sampled.
enum class StopReason : uint8_t { MaxTokens, Eos, ContextFull, Callback };

struct GenerateResult {
  std::vector<int32_t> tokens;  // the generated ids (prompt and the stopping id excluded)
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
    if (opt.stops_on(next)) {
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
