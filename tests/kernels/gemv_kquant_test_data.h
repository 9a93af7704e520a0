// Test inputs for the K-quant GEMV kernels: Q6_K, Q4_K and Q5_K weights against
// Q8_K activations (random, all-zero, extreme and real quantizer output),
// built from a seeded generator.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q5_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_k.h"
#include "trix/kernels/gemv_args.h"

namespace trix::test {

enum class KCase { kRandom, kZero, kExtreme, kQuantized };

struct Q6Problem {
  std::string label;
  size_t rows, k;
  std::vector<BlockQ6_K> w;
  std::vector<BlockQ8_K> x;
  GemvArgs args(float* y) const { return {w.data(), (k / 256) * sizeof(BlockQ6_K), x.data(), k, y, rows}; }
};

inline Q6Problem make_q6_problem(size_t rows, size_t k, KCase c, uint64_t seed) {
  Q6Problem p{"q6_k rows=" + std::to_string(rows) + " k=" + std::to_string(k) + " case=" +
                  std::to_string(static_cast<int>(c)),
              rows, k, std::vector<BlockQ6_K>(rows * k / 256), std::vector<BlockQ8_K>(k / 256)};
  std::mt19937_64 rng(seed);
  if (c == KCase::kQuantized) {  // what a model holds: real quantizer output
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f(rows * k);
    for (auto& v : f) v = nd(rng);
    quantize_row_q6_k(f.data(), p.w.data(), f.size());
    std::vector<float> a(k);
    for (auto& v : a) v = nd(rng) * 3.0f;
    quantize_row_q8_k(a.data(), p.x.data(), k);
    return p;
  }
  for (auto& b : p.w) {
    for (auto& v : b.ql) v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? (rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
    for (auto& v : b.qh) v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? (rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
    for (auto& v : b.scales) {
      v = c == KCase::kZero ? 0 : c == KCase::kExtreme ? static_cast<int8_t>(rng() % 2 ? 127 : -128) : static_cast<int8_t>(rng());
    }
    b.d = fp32_to_fp16(c == KCase::kExtreme ? 65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12)));
  }
  for (auto& b : p.x) {
    for (auto& q : b.qs) {
      q = c == KCase::kZero ? 0 : c == KCase::kExtreme ? static_cast<int8_t>(rng() % 2 ? 127 : -128) : static_cast<int8_t>(rng());
    }
    for (size_t g = 0; g < 16; ++g) {
      int32_t s = 0;
      for (size_t i = 0; i < 16; ++i) s += b.qs[16 * g + i];
      b.bsums[g] = static_cast<int16_t>(s);
    }
    b.d = c == KCase::kExtreme ? 1.0e3f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 8));
  }
  return p;
}

inline const std::vector<Q6Problem>& q6_problems() {
  static const std::vector<Q6Problem> out = [] {
    std::vector<Q6Problem> v;
    uint64_t seed = 1;
    for (size_t k : {256u, 512u, 2560u}) {
      for (size_t rows : {1u, 3u, 7u}) v.push_back(make_q6_problem(rows, k, KCase::kRandom, seed++));
    }
    v.push_back(make_q6_problem(3, 6912 + 256, KCase::kRandom, seed++));
    v.push_back(make_q6_problem(2, 512, KCase::kZero, seed++));
    v.push_back(make_q6_problem(5, 1024, KCase::kExtreme, seed++));
    v.push_back(make_q6_problem(4, 2560, KCase::kQuantized, seed++));
    return v;
  }();
  return out;
}

// Weights of Block (Q4_K or Q5_K: the same scales layout) against Q8_K.
template <class Block>
struct K4Problem {
  std::string label;
  size_t rows, k;
  std::vector<Block> w;
  std::vector<BlockQ8_K> x;
  GemvArgs args(float* y) const { return {w.data(), (k / 256) * sizeof(Block), x.data(), k, y, rows}; }
};
using Q4Problem = K4Problem<BlockQ4_K>;
using Q5Problem = K4Problem<BlockQ5_K>;

// Q4_K / Q5_K weights (random bytes, the real quantizer, or extremes: codes
// 0 and 15 / 31, scales and mins 0 / 63) with the activations of the Q6_K
// problem of the same case.
template <class Block>
inline K4Problem<Block> make_k4_problem(size_t rows, size_t k, KCase c, uint64_t seed) {
  constexpr bool kFive = std::is_same_v<Block, BlockQ5_K>;
  K4Problem<Block> p{std::string(kFive ? "q5_k" : "q4_k") + " rows=" + std::to_string(rows) + " k=" +
                         std::to_string(k) + " case=" + std::to_string(static_cast<int>(c)),
                     rows, k, std::vector<Block>(rows * k / 256), make_q6_problem(1, k, c, seed + 1000).x};
  std::mt19937_64 rng(seed);
  if (c == KCase::kQuantized) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> f(rows * k);
    for (auto& v : f) v = nd(rng);
    if constexpr (kFive) {
      quantize_row_q5_k(f.data(), p.w.data(), f.size());
    } else {
      quantize_row_q4_k(f.data(), p.w.data(), f.size());
    }
    return p;
  }
  const auto byte = [&] {
    return c == KCase::kZero ? uint8_t{0} : c == KCase::kExtreme ? uint8_t(rng() % 2 ? 0xFF : 0x00) : static_cast<uint8_t>(rng());
  };
  for (auto& b : p.w) {
    for (auto& v : b.qs) v = byte();
    if constexpr (kFive) {
      for (auto& v : b.qh) v = byte();
    }
    for (auto& v : b.scales) v = byte();
    b.d = fp32_to_fp16(c == KCase::kExtreme ? 65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12)));
    b.dmin = fp32_to_fp16(c == KCase::kExtreme ? -65504.0f : std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -static_cast<int>(rng() % 12)));
  }
  return p;
}
inline Q4Problem make_q4_problem(size_t rows, size_t k, KCase c, uint64_t seed) {
  return make_k4_problem<BlockQ4_K>(rows, k, c, seed);
}

template <class Block>
inline const std::vector<K4Problem<Block>>& k4_problems() {
  static const std::vector<K4Problem<Block>> out = [] {
    std::vector<K4Problem<Block>> v;
    uint64_t seed = std::is_same_v<Block, BlockQ5_K> ? 700 : 500;
    for (size_t k : {256u, 512u, 2560u}) {
      for (size_t rows : {1u, 3u, 7u}) v.push_back(make_k4_problem<Block>(rows, k, KCase::kRandom, seed++));
    }
    v.push_back(make_k4_problem<Block>(2, 512, KCase::kZero, seed++));
    v.push_back(make_k4_problem<Block>(5, 1024, KCase::kExtreme, seed++));
    v.push_back(make_k4_problem<Block>(4, 2560, KCase::kQuantized, seed++));
    return v;
  }();
  return out;
}
inline const std::vector<Q4Problem>& q4_problems() { return k4_problems<BlockQ4_K>(); }
inline const std::vector<Q5Problem>& q5_problems() { return k4_problems<BlockQ5_K>(); }

}  // namespace trix::test
