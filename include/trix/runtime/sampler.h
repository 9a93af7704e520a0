// Token sampling from logits: greedy, temperature, top-k, top-p, min-p and
// repetition penalty, with a seeded RNG so that the same seed, logits and
// history give the same tokens on every platform.
//
// Order of the filters (as llama.cpp's default chain, minus the exotic ones):
//   repetition penalty -> (temperature 0: argmax) -> top-k -> temperature ->
//   softmax -> top-p -> min-p -> draw.
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
  int32_t repetition_window = 64;   // how many recent ids the penalty looks at
  uint64_t seed = 0;

  // Throws trix::Error naming the first out-of-range field.
  void validate() const {
    if (!(temperature >= 0.0f)) throw Error("sampler: temperature must be >= 0");
    if (top_k < 0) throw Error("sampler: top_k must be >= 0");
    if (!(top_p > 0.0f && top_p <= 1.0f)) throw Error("sampler: top_p must be in (0, 1]");
    if (!(min_p >= 0.0f && min_p <= 1.0f)) throw Error("sampler: min_p must be in [0, 1]");
    if (!(repetition_penalty > 0.0f)) throw Error("sampler: repetition_penalty must be > 0");
    if (repetition_window < 0) throw Error("sampler: repetition_window must be >= 0");
  }
};

struct TokenProb {
  int32_t id;
  float p;  // logit until softmax, then probability
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
    apply_repetition_penalty(logits, history);
    if (config_.temperature == 0.0f) return argmax(logits);
    candidates(logits);
    return draw();
  }

  // The filtered, normalised distribution sample() would draw from (sorted by
  // decreasing probability); for tests and for callers that want to inspect it.
  std::span<const TokenProb> distribution(std::span<float> logits,
                                          std::span<const int32_t> history = {}) {
    apply_repetition_penalty(logits, history);
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
  // llama.cpp's rule: a positive logit is divided by the penalty, a negative
  // one multiplied, once per distinct id in the window.
  void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history) {
    if (config_.repetition_penalty == 1.0f || history.empty()) return;
    const size_t n = std::min(history.size(), static_cast<size_t>(config_.repetition_window));
    seen_.assign(logits.size(), 0);
    for (size_t i = history.size() - n; i < history.size(); ++i) {
      const int32_t id = history[i];
      if (id < 0 || static_cast<size_t>(id) >= logits.size() || seen_[static_cast<size_t>(id)]) continue;
      seen_[static_cast<size_t>(id)] = 1;
      float& l = logits[static_cast<size_t>(id)];
      l = l > 0.0f ? l / config_.repetition_penalty : l * config_.repetition_penalty;
    }
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
  std::vector<uint8_t> seen_;
};

}  // namespace trix
