// Token sampling from logits: greedy, temperature, top-k, top-p, min-p,
// repetition, presence and frequency penalties, with a seeded RNG so that the
// same seed, logits and history give the same tokens on every platform; and
// the log-probabilities of the sampled token and of the most likely ones.
//
// Order of the filters (as llama.cpp's default chain, minus the exotic ones):
//   penalties -> (temperature 0: argmax) -> top-k -> temperature ->
//   softmax -> top-p -> min-p -> draw.
// The penalties look at the last repetition_window ids of the history: the
// repetition penalty (llama.cpp's) scales each id's logit once, then OpenAI's
// presence and frequency penalties subtract
//   presence_penalty * (count > 0) + frequency_penalty * count
// where count is how often the id occurs in that window.
// The RNG is std::mt19937_64 (its output sequence is fixed by the standard),
// turned into a uniform double in [0, 1) with our own 53-bit conversion, so no
// library-defined distribution is involved.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "trix/core/error.h"

namespace trix {

struct SamplerConfig {
  float temperature = 0.0f;         // 0: greedy (argmax, lowest id on ties)
  int32_t top_k = 0;                // keep the k most likely; 0: all
  float top_p = 1.0f;               // keep the smallest prefix with mass >= top_p; 1: all
  float min_p = 0.0f;               // drop tokens with p < min_p * p_max; 0: none
  float repetition_penalty = 1.0f;  // >1 discourages ids in the history window
  int32_t repetition_window = 64;   // how many recent ids the penalties look at
  float presence_penalty = 0.0f;    // OpenAI's, in [-2, 2]: subtracted once per id present
  float frequency_penalty = 0.0f;   // OpenAI's, in [-2, 2]: subtracted per occurrence
  uint64_t seed = 0;

  // Throws trix::Error naming the first out-of-range field.
  void validate() const {
    if (!(temperature >= 0.0f)) throw Error("sampler: temperature must be >= 0");
    if (top_k < 0) throw Error("sampler: top_k must be >= 0");
    if (!(top_p > 0.0f && top_p <= 1.0f)) throw Error("sampler: top_p must be in (0, 1]");
    if (!(min_p >= 0.0f && min_p <= 1.0f)) throw Error("sampler: min_p must be in [0, 1]");
    if (!(repetition_penalty > 0.0f)) throw Error("sampler: repetition_penalty must be > 0");
    if (repetition_window < 0) throw Error("sampler: repetition_window must be >= 0");
    if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
      throw Error("sampler: presence_penalty must be in [-2, 2]");
    }
    if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
      throw Error("sampler: frequency_penalty must be in [-2, 2]");
    }
  }
};

struct TokenProb {
  int32_t id;
  float p;  // logit until softmax, then probability
};

// What Sampler::sample reports when asked for log-probabilities: of the
// distribution the token was drawn from before the filters (the penalised
// logits at the temperature, 1 when greedy; softmax over the whole
// vocabulary, in double).
struct SampleLogprobs {
  float sampled = 0.0f;          // the sampled id's log-probability
  std::vector<TokenProb> top;    // the n_top most likely ids, p = log-probability, decreasing (ties: lower id)
};

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& config) : config_(config), rng_(config.seed) {
    config_.validate();
  }

  const SamplerConfig& config() const { return config_; }
  void reseed(uint64_t seed) { rng_.seed(seed); }

  // Picks the next token from `logits` (one per vocabulary id; modified in
  // place by the repetition penalty). `history` holds the ids generated so
  // far (prompt included); only its last repetition_window ids count.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history = {}) {
    if (logits.empty()) throw Error("sampler: empty logits");
    apply_penalties(logits, history);
    if (config_.temperature == 0.0f) return argmax(logits);
    candidates(logits);
    return draw();
  }

  // As above, and fills `lp` with the sampled id's log-probability and the
  // n_top most likely alternatives (see SampleLogprobs). The draw is the same
  // as without: the same seed gives the same ids.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history, int32_t n_top,
                 SampleLogprobs& lp) {
    const int32_t id = sample(logits, history);
    log_softmax_top(logits, id, n_top, lp);
    return id;
  }

  // The filtered, normalised distribution sample() would draw from (sorted by
  // decreasing probability); for tests and for callers that want to inspect it.
  std::span<const TokenProb> distribution(std::span<float> logits,
                                          std::span<const int32_t> history = {}) {
    apply_penalties(logits, history);
    candidates(logits);
    return cand_;
  }

  static int32_t argmax(std::span<const float> logits) {
    size_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i) {
      if (logits[i] > logits[best]) best = i;
    }
    return static_cast<int32_t>(best);
  }

  // Uniform double in [0, 1) from the top 53 bits of one RNG draw.
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

 private:
  // The repetition penalty follows llama.cpp's rule: a positive logit is
  // divided by the penalty, a negative one multiplied, once per distinct id
  // in the window; then the presence and frequency penalties (OpenAI's).
  void apply_penalties(std::span<float> logits, std::span<const int32_t> history) {
    const bool repetition = config_.repetition_penalty != 1.0f;
    const bool additive = config_.presence_penalty != 0.0f || config_.frequency_penalty != 0.0f;
    if ((!repetition && !additive) || history.empty()) return;
    const size_t n = std::min(history.size(), static_cast<size_t>(config_.repetition_window));
    counts_.assign(logits.size(), 0);
    for (size_t i = history.size() - n; i < history.size(); ++i) {
      const int32_t id = history[i];
      if (id < 0 || static_cast<size_t>(id) >= logits.size()) continue;
      ++counts_[static_cast<size_t>(id)];
    }
    for (size_t id = 0; id < logits.size(); ++id) {
      const uint32_t c = counts_[id];
      if (c == 0) continue;
      float& l = logits[id];
      if (repetition) l = l > 0.0f ? l / config_.repetition_penalty : l * config_.repetition_penalty;
      l -= config_.presence_penalty + config_.frequency_penalty * static_cast<float>(c);
    }
  }

  void log_softmax_top(std::span<const float> logits, int32_t id, int32_t n_top, SampleLogprobs& lp) {
    const double inv_t = config_.temperature > 0.0f ? 1.0 / config_.temperature : 1.0;
    const double max = logits[static_cast<size_t>(argmax(logits))];
    double sum = 0.0;
    for (float l : logits) sum += std::exp((l - max) * inv_t);
    const double log_z = std::log(sum);
    const auto logprob = [&](float l) { return static_cast<float>((l - max) * inv_t - log_z); };
    lp.sampled = logprob(logits[static_cast<size_t>(id)]);
    lp.top.clear();
    if (n_top <= 0) return;
    cand_.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) cand_[i] = {static_cast<int32_t>(i), logits[i]};
    const size_t k = std::min(static_cast<size_t>(n_top), cand_.size());
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(k), cand_.end(),
                      [](const TokenProb& a, const TokenProb& b) {
                        return a.p > b.p || (a.p == b.p && a.id < b.id);
                      });
    for (size_t i = 0; i < k; ++i) lp.top.push_back({cand_[i].id, logprob(cand_[i].p)});
  }

  // Fills cand_ with the filtered distribution, sorted by decreasing
  // probability (ties: lower id first, so the order is fully determined).
  void candidates(std::span<const float> logits) {
    cand_.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) cand_[i] = {static_cast<int32_t>(i), logits[i]};
    const auto higher = [](const TokenProb& a, const TokenProb& b) {
      return a.p > b.p || (a.p == b.p && a.id < b.id);
    };
    size_t k = cand_.size();
    if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < k) {
      k = static_cast<size_t>(config_.top_k);
      std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(k), cand_.end(),
                        higher);
      cand_.resize(k);
    } else {
      std::sort(cand_.begin(), cand_.end(), higher);
    }
    // Softmax in double over the survivors; temperature 0 (distribution()
    // on a greedy sampler) is treated as 1 so the result stays finite.
    const double inv_t = config_.temperature > 0.0f ? 1.0 / config_.temperature : 1.0;
    const double max = cand_[0].p;
    double sum = 0.0;
    for (auto& c : cand_) {
      const double e = std::exp((c.p - max) * inv_t);
      c.p = static_cast<float>(e);
      sum += e;
    }
    for (auto& c : cand_) c.p = static_cast<float>(c.p / sum);

    size_t keep = cand_.size();
    if (config_.top_p < 1.0f) {
      double mass = 0.0;
      for (size_t i = 0; i < cand_.size(); ++i) {
        mass += cand_[i].p;
        if (mass >= config_.top_p) {
          keep = i + 1;
          break;
        }
      }
    }
    if (config_.min_p > 0.0f) {
      const float floor = config_.min_p * cand_[0].p;
      size_t i = 1;  // the most likely token always survives
      while (i < keep && cand_[i].p >= floor) ++i;
      keep = i;
    }
    if (keep < cand_.size()) {
      cand_.resize(keep);
      double kept = 0.0;
      for (const auto& c : cand_) kept += c.p;
      for (auto& c : cand_) c.p = static_cast<float>(c.p / kept);
    }
  }

  // Inverse-CDF draw over cand_ in its (deterministic) order.
  int32_t draw() {
    const double u = uniform();
    double cdf = 0.0;
    for (const auto& c : cand_) {
      cdf += c.p;
      if (u < cdf) return c.id;
    }
    return cand_.back().id;  // rounding left the total a hair below 1
  }

  SamplerConfig config_;
  std::mt19937_64 rng_;
  std::vector<TokenProb> cand_;
  std::vector<uint32_t> counts_;
};

}  // namespace trix
