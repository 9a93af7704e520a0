// Deterministic inputs for the format tests.
#pragma once

#include <cstdint>
#include <vector>

#include "trix/core/fp16.h"

namespace trix::test {

// Small deterministic generator (64-bit LCG, high bits out): tests must not
// depend on the standard library's distributions, which differ by vendor.
class Lcg {
 public:
  explicit Lcg(uint64_t seed) : state_(seed * 2862933555777941757ull + 3037000493ull) {}
  uint32_t next() {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<uint32_t>(state_ >> 32);
  }
  // Uniform in [-1, 1).
  float uniform() { return static_cast<float>(next() >> 8) / 8388608.0f - 1.0f; }
  int32_t ternary() { return static_cast<int32_t>(next() % 3) - 1; }
  uint8_t byte() { return static_cast<uint8_t>(next() >> 24); }

 private:
  uint64_t state_;
};

inline std::vector<float> uniform_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  Lcg rng(seed);
  std::vector<float> out(n);
  for (auto& v : out) v = rng.uniform() * scale;
  return out;
}

// A positive finite half in [2^-10, 2), as f16 bits: a plausible block scale.
inline uint16_t random_f16_scale(Lcg& rng) {
  return fp32_to_fp16(0.001f + 1.5f * (rng.uniform() + 1.0f) / 2.0f);
}

}  // namespace trix::test
