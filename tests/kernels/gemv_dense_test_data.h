// Test inputs for the dense GEMV kernels: Q8_0 x Q8_0, Q4_0 x Q8_0 and
// F16 x F32 problems (random, all-zero and extreme rows), built from a
// seeded generator.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q4_0.h"
#include "trix/formats/q8_0.h"
#include "trix/kernels/gemv_args.h"

namespace trix::test {

enum class DenseCase { kRandom, kZero, kExtreme };

struct Q8Problem {
  std::string label;
  size_t rows, k;
  std::vector<BlockQ8_0> w, x;
  GemvArgs args(float* y) const {
    return {w.data(), (k / 32) * sizeof(BlockQ8_0), x.data(), k, y, rows};
  }
};

inline Q8Problem make_q8_problem(size_t rows, size_t k, DenseCase c, uint64_t seed) {
  Q8Problem p{"q8_0 rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                  std::to_string(static_cast<int>(c)),
              rows, k, std::vector<BlockQ8_0>(rows * k / 32), std::vector<BlockQ8_0>(k / 32)};
  std::mt19937_64 rng(seed);
  auto fill = [&](BlockQ8_0& b) {
    for (auto& q : b.qs) {
      q = c == DenseCase::kZero ? 0
          : c == DenseCase::kExtreme ? static_cast<int8_t>(rng() % 2 ? 127 : -128)
                                     : static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    }
    // Scales: random in [2^-10, 2), or f16 max for the extreme case.
    const float d = c == DenseCase::kExtreme ? 65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 11));
    b.d = fp32_to_fp16(d);
  };
  for (auto& b : p.w) fill(b);
  for (auto& b : p.x) fill(b);
  return p;
}

struct Q4_0Problem {
  std::string label;
  size_t rows, k;
  std::vector<BlockQ4_0> w;
  std::vector<BlockQ8_0> x;
  GemvArgs args(float* y) const { return {w.data(), (k / 32) * sizeof(BlockQ4_0), x.data(), k, y, rows}; }
};

// Q4_0 weights with the scales and activations of the Q8_0 problem of the
// same case: random nibbles, all zero, or extreme codes (-8 or 7 per byte).
inline Q4_0Problem make_q4_0_problem(size_t rows, size_t k, DenseCase c, uint64_t seed) {
  const Q8Problem q8 = make_q8_problem(rows, k, c, seed);
  Q4_0Problem p{"q4_0 rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                    std::to_string(static_cast<int>(c)),
                rows, k, std::vector<BlockQ4_0>(q8.w.size()), q8.x};
  std::mt19937_64 rng(seed + 7);
  for (size_t b = 0; b < p.w.size(); ++b) {
    p.w[b].d = q8.w[b].d;
    for (auto& q : p.w[b].qs) {
      q = c == DenseCase::kZero ? 0x88 : c == DenseCase::kExtreme ? (rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
    }
  }
  return p;
}

struct F16Problem {
  std::string label;
  size_t rows, k;
  std::vector<uint16_t> w;
  std::vector<float> x;
  GemvArgs args(float* y) const { return {w.data(), k * sizeof(uint16_t), x.data(), k, y, rows}; }
};

inline F16Problem make_f16_problem(size_t rows, size_t k, DenseCase c, uint64_t seed) {
  F16Problem p{"f16 rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                   std::to_string(static_cast<int>(c)),
               rows, k, std::vector<uint16_t>(rows * k), std::vector<float>(k)};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (size_t i = 0; i < p.w.size(); ++i) {
    float v = c == DenseCase::kZero ? 0.0f : nd(rng);
    if (c == DenseCase::kExtreme) v = (i % 3 == 0) ? 65504.0f : (i % 3 == 1 ? -6.0e-8f : 1.0e-5f);
    p.w[i] = fp32_to_fp16(v);
  }
  for (auto& v : p.x) v = c == DenseCase::kZero ? 0.0f : nd(rng) * (c == DenseCase::kExtreme ? 1e3f : 1.0f);
  return p;
}

// The Q8_0 / Q4_0 problem shapes: make(rows, k, case, seed) for each.
template <class Make>
auto symmetric32_problems(Make make, uint64_t seed) {
  std::vector<decltype(make(size_t{1}, size_t{32}, DenseCase::kRandom, seed))> v;
  for (size_t k : {32u, 96u, 256u, 2560u}) {
    for (size_t rows : {1u, 3u, 5u, 17u}) v.push_back(make(rows, k, DenseCase::kRandom, seed++));
  }
  v.push_back(make(7, 13824, DenseCase::kRandom, seed++));
  v.push_back(make(5, 256, DenseCase::kZero, seed++));
  v.push_back(make(6, 512, DenseCase::kExtreme, seed++));
  // Several 16-row steps (the AVX3_DL kernel's rows-in-lanes path) plus
  // a tail, with extreme values (-128 weights and activations).
  v.push_back(make(37, 2560, DenseCase::kRandom, seed++));
  v.push_back(make(16, 256, DenseCase::kZero, seed++));
  v.push_back(make(35, 512, DenseCase::kExtreme, seed++));
  return v;
}

inline const std::vector<Q8Problem>& q8_problems() {
  static const std::vector<Q8Problem> out = symmetric32_problems(make_q8_problem, 1);
  return out;
}

inline const std::vector<Q4_0Problem>& q4_0_problems() {
  static const std::vector<Q4_0Problem> out = symmetric32_problems(make_q4_0_problem, 300);
  return out;
}

inline const std::vector<F16Problem>& f16_problems() {
  static const std::vector<F16Problem> out = [] {
    std::vector<F16Problem> v;
    uint64_t seed = 50;
    for (size_t k : {1u, 7u, 16u, 33u, 256u, 2560u}) {
      for (size_t rows : {1u, 3u, 5u}) v.push_back(make_f16_problem(rows, k, DenseCase::kRandom, seed++));
    }
    v.push_back(make_f16_problem(4, 13824, DenseCase::kRandom, seed++));
    v.push_back(make_f16_problem(3, 100, DenseCase::kZero, seed++));
    v.push_back(make_f16_problem(3, 77, DenseCase::kExtreme, seed++));
    return v;
  }();
  return out;
}

}  // namespace trix::test
