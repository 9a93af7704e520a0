// Test inputs for the ternary GEMV: random and edge-case TQ2_0 matrices and
// Q8_K activation rows, built from a seeded generator.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q8_k.h"
#include "trix/kernels/gemv_args.h"

namespace trix::test {

enum class GemvCase { kRandom, kZeroRows, kMaxScale, kTinyScale, kAllPlus, kAllMinus };

inline const char* case_name(GemvCase c) {
  switch (c) {
    case GemvCase::kRandom: return "random";
    case GemvCase::kZeroRows: return "zero_rows";
    case GemvCase::kMaxScale: return "max_scale";
    case GemvCase::kTinyScale: return "tiny_scale";
    case GemvCase::kAllPlus: return "all_plus";
    case GemvCase::kAllMinus: return "all_minus";
  }
  return "?";
}

struct GemvProblem {
  size_t rows = 0, k = 0;
  std::vector<BlockTQ2_0> w;
  std::vector<BlockQ8_K> x;
  std::string label;

  GemvArgs args(float* y) const {
    return {w.data(), (k / 256) * sizeof(BlockTQ2_0), x.data(), k, y, rows};
  }
};

inline void set_code(BlockTQ2_0& b, size_t e, unsigned code) {
  const size_t byte = (e / BlockTQ2_0::kGroupCodes) * BlockTQ2_0::kGroupBytes + e % BlockTQ2_0::kGroupBytes;
  const unsigned shift = BlockTQ2_0::code_shift((e % BlockTQ2_0::kGroupCodes) / BlockTQ2_0::kGroupBytes);
  b.qs[byte] = static_cast<uint8_t>((b.qs[byte] & ~(3u << shift)) | (code << shift));
}

inline GemvProblem make_gemv_problem(size_t rows, size_t k, GemvCase c, uint64_t seed) {
  GemvProblem p;
  p.rows = rows;
  p.k = k;
  p.label = std::string(case_name(c)) + " rows=" + std::to_string(rows) + " k=" + std::to_string(k);
  std::mt19937_64 rng(seed);
  const size_t nb = k / 256;
  p.w.resize(rows * nb);
  std::uniform_int_distribution<unsigned> code(0, 2);
  std::uniform_real_distribution<float> scale(0.001f, 2.0f);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < nb; ++b) {
      BlockTQ2_0& blk = p.w[r * nb + b];
      std::memset(&blk, 0, sizeof blk);
      for (size_t e = 0; e < 256; ++e) {
        unsigned cd = code(rng);
        if (c == GemvCase::kZeroRows && r % 2 == 0) cd = 1;
        if (c == GemvCase::kAllPlus) cd = 2;
        if (c == GemvCase::kAllMinus) cd = 0;
        set_code(blk, e, cd);
      }
      float d = scale(rng);
      if (c == GemvCase::kMaxScale) d = 65504.0f;  // largest finite f16
      if (c == GemvCase::kTinyScale) d = fp16_to_fp32(1);  // smallest f16 subnormal
      blk.d = fp32_to_fp16(d);
    }
  }
  std::vector<float> xf(k);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : xf) v = nd(rng);
  if (c == GemvCase::kMaxScale || c == GemvCase::kAllPlus || c == GemvCase::kAllMinus) {
    for (size_t i = 0; i < k; ++i) xf[i] = (i % 3 == 0) ? -127.0f : 127.0f;  // saturating codes
  }
  p.x.resize(nb);
  quantize_row_q8_k(xf.data(), p.x.data(), k);
  return p;
}

// Shapes required by the foundation issue: odd M, K from 256 to 8192.
inline std::vector<GemvProblem> gemv_problems() {
  std::vector<GemvProblem> out;
  uint64_t seed = 1;
  for (size_t k : {256u, 512u, 768u, 2560u, 8192u}) {
    for (size_t rows : {1u, 3u, 4u, 7u, 17u, 33u}) {
      out.push_back(make_gemv_problem(rows, k, GemvCase::kRandom, seed++));
    }
  }
  for (GemvCase c : {GemvCase::kZeroRows, GemvCase::kMaxScale, GemvCase::kTinyScale,
                     GemvCase::kAllPlus, GemvCase::kAllMinus}) {
    out.push_back(make_gemv_problem(9, 1024, c, seed++));
  }
  return out;
}

}  // namespace trix::test
