// The GEMV kernels that have GPU variants, with the problems the GPU-path
// tests (CUDA grid emulation, Metal shim) run and the checks they apply,
// none of which share code with the device bodies (trix/kernels/*.body.h):
//  * an fp64 dot of the dequantized operands, computed here from the format
//    codecs (trix/formats), within a float-error bound of each kernel's
//    contract (per lane nb fma roundings relative to the running sum, the
//    scale products, 4 butterfly levels, with slack for higher-order terms);
//  * the Highway kernel of the same spec (dynamic dispatch, the best target
//    of this CPU; gemv_highway_peer.cc), or for I2_S rows as stored (the CPU
//    runs them repacked) the format's reference dot, held to the spec's
//    accuracy field (bit_exact for all of them: one order per contract).
// Shapes: the kernels' CPU test sets (odd rows, K from 1 or 256 up to 13824,
// zero, extreme and real-quantizer cases) plus a few rows of each
// BitNet-2B-4T projection (K = 2560 and 6912).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/kernel_accuracy.h"
#include "kernels/gemv_dense_test_data.h"
#include "kernels/gemv_independent_check.h"
#include "kernels/gemv_kquant_test_data.h"
#include "kernels/gemv_test_data.h"
#include "trix/core/fp16.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"
#include "trix/kernels/accuracy.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_f16_f32.h"
#include "trix/kernels/gemv_i2_s_i8_s.h"
#include "trix/kernels/gemv_q4_k_q8_k.h"
#include "trix/kernels/gemv_q6_k_q8_k.h"
#include "trix/kernels/gemv_q8_0_q8_0.h"
#include "trix/kernels/gemv_tq2_0_q8_k.h"

namespace trix::test {

void cpu_gemv_peer(const char* name, const GemvArgs& args);  // gemv_highway_peer.cc

struct GpuGemvProblem {
  std::string label;
  GemvArgs args;  // y unset; the data lives in the kernel's static problem set
  std::vector<Fp64Row> fp64;
};

struct GpuGemvKernel {
  const char* name;
  kernels::Accuracy accuracy;
  std::vector<GpuGemvProblem> problems;
};

namespace detail {

// Bound of the lanes16 contracts: `steps` fma roundings per lane, plus the
// butterfly and scale products, relative to `magnitude`.
inline Fp64Row fp64_row(double value, double magnitude, size_t steps) {
  return {value, static_cast<double>(steps + 7) * 0x1p-24 * magnitude};
}

inline const BlockQ8_K& q8k(const GemvArgs& a, size_t b) { return static_cast<const BlockQ8_K*>(a.x)[b]; }
template <class Block>
const Block& wblock(const GemvArgs& a, size_t r, size_t b) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes)[b];
}

inline Fp64Row f16_row(const GemvArgs& a, size_t r) {
  double value = 0, magnitude = 0;
  const auto* w = reinterpret_cast<const uint16_t*>(static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes);
  for (size_t i = 0; i < a.k; ++i) {
    const double t = static_cast<double>(fp16_to_fp32(w[i])) * static_cast<const float*>(a.x)[i];
    value += t;
    magnitude += std::fabs(t);
  }
  return fp64_row(value, magnitude, a.k / 16 + 1);
}

// Q6_K: x = d * sc * code; the magnitude also covers the contract's split
// of each code into (code + 32) - 32.
inline Fp64Row q6_k_row(const GemvArgs& a, size_t r) {
  double value = 0, magnitude = 0;
  for (size_t b = 0; b < a.k / 256; ++b) {
    const BlockQ6_K& w = wblock<BlockQ6_K>(a, r, b);
    const BlockQ8_K& x = q8k(a, b);
    const double d = static_cast<double>(fp16_to_fp32(w.d)) * x.d;
    for (size_t e = 0; e < 256; ++e) {
      const double sq = d * w.scales[e / 16] * x.qs[e];
      value += sq * trix::detail::q6_k_code(w, e);
      magnitude += std::fabs(sq) * (std::abs(trix::detail::q6_k_code(w, e)) + 64);
    }
  }
  return fp64_row(value, magnitude, a.k / 256);
}

// Q4_K: x = d * sc * q - dmin * m per 32-element sub-block.
inline Fp64Row q4_k_row(const GemvArgs& a, size_t r) {
  double value = 0, magnitude = 0;
  for (size_t b = 0; b < a.k / 256; ++b) {
    const BlockQ4_K& w = wblock<BlockQ4_K>(a, r, b);
    const BlockQ8_K& x = q8k(a, b);
    for (size_t e = 0; e < 256; ++e) {
      const trix::detail::ScaleMin sm = trix::detail::q4_k_scale_min(w.scales, e / 32);
      const double t1 = static_cast<double>(fp16_to_fp32(w.d)) * sm.scale * trix::detail::q4_k_code(w, e);
      const double t2 = static_cast<double>(fp16_to_fp32(w.dmin)) * sm.min;
      value += (t1 - t2) * x.d * x.qs[e];
      magnitude += (std::fabs(t1) + std::fabs(t2)) * std::fabs(x.d * x.qs[e]);
    }
  }
  return fp64_row(value, magnitude, 2 * (a.k / 256));
}

// Q8_0: the chain has one fma per block, in block order.
inline Fp64Row q8_0_row(const GemvArgs& a, size_t r) {
  double value = 0, magnitude = 0;
  for (size_t b = 0; b < a.k / 32; ++b) {
    const BlockQ8_0& w = wblock<BlockQ8_0>(a, r, b);
    const BlockQ8_0& x = static_cast<const BlockQ8_0*>(a.x)[b];
    const double d = static_cast<double>(fp16_to_fp32(w.d)) * fp16_to_fp32(x.d);
    for (size_t j = 0; j < 32; ++j) {
      value += d * w.qs[j] * x.qs[j];
      magnitude += std::fabs(d * w.qs[j] * x.qs[j]);
    }
  }
  return fp64_row(value, magnitude, a.k / 32);
}

// I2_S rows as stored, decoded here from the layout in trix/formats/i2_s.h's
// comment (weight j + 32 n of a 128-weight group in byte j, bits 7-6 for
// n = 0 down to 1-0 for n = 3; code c means c - 1), exact integer sum, then
// the two roundings (to f32, and the division by the activation scale).
inline Fp64Row i2_s_row(const GemvArgs& a, size_t r) {
  const auto* row = static_cast<const uint8_t*>(a.w) + r * a.w_row_bytes;
  const auto* q = static_cast<const int8_t*>(a.x);
  int64_t isum = 0;
  for (size_t i = 0; i < a.k; ++i) {
    const size_t g = i / 128, j = i % 128;
    const int code = (row[32 * g + j % 32] >> (6 - 2 * (j / 32))) & 3;
    isum += static_cast<int64_t>(code - 1) * q[i];
  }
  float scale;
  std::memcpy(&scale, q + a.k, sizeof scale);
  const double value = static_cast<double>(isum) / scale;
  return {value, 3 * 0x1p-24 * std::fabs(value)};
}

template <class Problem>
GpuGemvProblem gpu_problem(const Problem& p, Fp64Row (*row)(const GemvArgs&, size_t)) {
  GpuGemvProblem out{p.label, p.args(nullptr), {}};
  for (size_t r = 0; r < p.rows; ++r) out.fp64.push_back(row(out.args, r));
  return out;
}

}  // namespace detail

// I2_S weights (the real quantizer, or raw random bytes with code 3 and
// -128 activations, which the quantizers never write) and I8_S activations
// (codes, then the f32 scale).
struct I2SProblem {
  std::string label;
  size_t rows, k;
  std::vector<uint8_t> w, x;
  GemvArgs args(float* y) const { return {w.data(), k / 4, x.data(), k, y, rows}; }
};

inline I2SProblem make_i2_s_problem(size_t rows, size_t k, bool raw, uint64_t seed) {
  I2SProblem p{"i2_s rows=" + std::to_string(rows) + " k=" + std::to_string(k) + (raw ? " raw" : " quantized"),
               rows, k, std::vector<uint8_t>(i2_s_nbytes(rows, k)), std::vector<uint8_t>(k + 4)};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  if (raw) {
    for (auto& b : p.w) b = static_cast<uint8_t>(rng());
    for (size_t i = 0; i < k; ++i) p.x[i] = static_cast<uint8_t>(rng());
    const float s = std::ldexp(1.0f + (rng() % 1000) / 1000.0f, static_cast<int>(rng() % 16) - 8);
    std::memcpy(p.x.data() + k, &s, sizeof s);
    return p;
  }
  std::vector<float> w(rows * k), x(k);
  for (auto& v : w) v = nd(rng) * (rng() % 3 == 0 ? 1e-7f : 1.0f);  // some below the zero threshold
  for (auto& v : x) v = nd(rng);
  quantize_i2_s(w.data(), rows, k, p.w.data());
  quantize_activations_i8_s(x.data(), p.x.data(), k);
  return p;
}

// A few rows of each BitNet-2B-4T projection shape (rows x K: 2560 x 2560,
// 6912 x 2560, 2560 x 6912), plus K = 6912 + 256: not a multiple of 512.
inline constexpr size_t kBitNetKs[] = {2560, 6912, 6912 + 256};

// `set` plus make(k, seed) for each BitNet K.
template <class Problem, class Make>
std::vector<Problem> with_bitnet_shapes(std::vector<Problem> set, Make make) {
  uint64_t seed = 900;
  for (size_t k : kBitNetKs) set.push_back(make(k, seed++));
  return set;
}

inline const std::vector<GpuGemvKernel>& gpu_gemv_kernels() {
  static const std::vector<GemvProblem> tq2 =
      with_bitnet_shapes(gemv_problems(), [](size_t k, uint64_t seed) {
        return make_gemv_problem(5, k, GemvCase::kRandom, seed);
      });
  static const std::vector<F16Problem> f16 =
      with_bitnet_shapes(f16_problems(), [](size_t k, uint64_t seed) {
        return make_f16_problem(3, k, DenseCase::kRandom, seed);
      });
  static const std::vector<Q6Problem> q6 =
      with_bitnet_shapes(q6_problems(), [](size_t k, uint64_t seed) {
        return make_q6_problem(3, k, KCase::kQuantized, seed);
      });
  static const std::vector<Q4Problem> q4 =
      with_bitnet_shapes(q4_problems(), [](size_t k, uint64_t seed) {
        return make_q4_problem(3, k, KCase::kQuantized, seed);
      });
  static const std::vector<Q8Problem> q8 =
      with_bitnet_shapes(q8_problems(), [](size_t k, uint64_t seed) {
        return make_q8_problem(3, k, DenseCase::kRandom, seed);
      });
  static const std::vector<I2SProblem> i2s = [] {
    std::vector<I2SProblem> v;
    uint64_t seed = 900;
    for (size_t k : {128u, 384u, 2560u}) {
      for (size_t rows : {1u, 3u, 17u}) v.push_back(make_i2_s_problem(rows, k, false, seed++));
    }
    for (size_t k : kBitNetKs) v.push_back(make_i2_s_problem(3, k, false, seed++));
    v.push_back(make_i2_s_problem(3, 6912 + 128, false, seed++));
    v.push_back(make_i2_s_problem(5, 2560, true, seed++));
    v.push_back(make_i2_s_problem(2, 6912, true, seed++));
    return v;
  }();
  static const std::vector<GpuGemvKernel> all = [] {
    std::vector<GpuGemvKernel> out = {{"gemv_tq2_0_q8_k", kernels::gemv_tq2_0_q8_k::kAccuracy, {}},
                                      {"gemv_f16_f32", kernels::gemv_f16_f32::kAccuracy, {}},
                                      {"gemv_q6_k_q8_k", kernels::gemv_q6_k_q8_k::kAccuracy, {}},
                                      {"gemv_q4_k_q8_k", kernels::gemv_q4_k_q8_k::kAccuracy, {}},
                                      {"gemv_q8_0_q8_0", kernels::gemv_q8_0_q8_0::kAccuracy, {}},
                                      {"gemv_i2_s_i8_s", kernels::gemv_i2_s_i8_s::kAccuracy, {}}};
    for (const auto& p : tq2) {
      GpuGemvProblem g{p.label, p.args(nullptr), {}};
      for (size_t r = 0; r < p.rows; ++r) g.fp64.push_back(gemv_row_fp64(p, r));
      out[0].problems.push_back(std::move(g));
    }
    for (const auto& p : f16) out[1].problems.push_back(detail::gpu_problem(p, detail::f16_row));
    for (const auto& p : q6) out[2].problems.push_back(detail::gpu_problem(p, detail::q6_k_row));
    for (const auto& p : q4) out[3].problems.push_back(detail::gpu_problem(p, detail::q4_k_row));
    for (const auto& p : q8) out[4].problems.push_back(detail::gpu_problem(p, detail::q8_0_row));
    for (const auto& p : i2s) out[5].problems.push_back(detail::gpu_problem(p, detail::i2_s_row));
    return out;
  }();
  return all;
}

// TQ1_0 weights for the upload path (trix/cuda/upload.h): rows quantized
// from the same floats as a TQ2_0 problem. Both quantizers pick the same
// trits and f16 scale (ggml's rule: d = max |x|, t = round(x / d) + 1), so
// after the TQ1_0 -> TQ2_0 conversion at upload the kernel must give the
// TQ2_0 problem's results: checked with its fp64 dot (from DESIGN.md's TQ2_0
// layout) and the Highway TQ2_0 kernel over its blocks, neither of which
// sees the conversion.
struct Tq1Problem {
  std::vector<BlockTQ1_0> tq1;
  GemvProblem tq2;
  GpuGemvProblem checks;
};

inline const std::vector<Tq1Problem>& tq1_0_problems() {
  static const std::vector<Tq1Problem> out = [] {
    std::vector<Tq1Problem> v;
    uint64_t seed = 77;
    for (const auto& [rows, k] : {std::pair<size_t, size_t>{1, 256}, {7, 512}, {5, 2560}, {3, 6912}, {3, 6912 + 256}}) {
      Tq1Problem p;
      p.tq2 = make_gemv_problem(rows, k, GemvCase::kRandom, seed++);
      std::mt19937_64 rng(seed++);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::vector<float> w(rows * k);
      for (auto& x : w) x = nd(rng) * (rng() % 4 == 0 ? 0.0f : 1.0f);  // some exact zeros
      p.tq1.resize(rows * k / 256);
      quantize_row_tq1_0(w.data(), p.tq1.data(), w.size());
      quantize_row_tq2_0(w.data(), p.tq2.w.data(), w.size());
      p.tq2.label = "tq1_0 rows=" + std::to_string(rows) + " k=" + std::to_string(k);
      v.push_back(std::move(p));
    }
    for (auto& p : v) {
      p.checks = {p.tq2.label, p.tq2.args(nullptr), {}};
      for (size_t r = 0; r < p.tq2.rows; ++r) p.checks.fp64.push_back(gemv_row_fp64(p.tq2, r));
    }
    return v;
  }();
  return out;
}

// Checks one problem's rows from a GPU path. Returns the largest |error| /
// fp64 bound, to show the bound is tight (well below 1 when right, far above
// it for a layout bug).
inline double expect_gpu_gemv_matches(const GpuGemvKernel& spec, const GpuGemvProblem& p,
                                      const std::vector<float>& got) {
  std::vector<float> peer(p.args.rows, -1.0f);
  GemvArgs args = p.args;
  args.y = peer.data();
  cpu_gemv_peer(spec.name, args);
  double worst = 0.0;
  for (size_t r = 0; r < p.args.rows; ++r) {
    const Fp64Row& want = p.fp64[r];
    const double err = std::fabs(static_cast<double>(got[r]) - want.value);
    worst = std::max(worst, want.tolerance > 0 ? err / want.tolerance : (err > 0 ? INFINITY : 0.0));
    EXPECT_LE(err, want.tolerance) << spec.name << " " << p.label << " row " << r << ": " << got[r]
                                   << " vs fp64 " << want.value;
    EXPECT_TRUE(meets_contract(spec.accuracy, peer[r], got[r]))
        << spec.name << " " << p.label << " row " << r << ": GPU path vs Highway";
  }
  return worst;
}

}  // namespace trix::test
