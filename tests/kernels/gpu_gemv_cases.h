// The GEMV kernels that have GPU variants, with the problems the GPU-path
// tests (CUDA grid emulation, Metal shim) run and the checks they apply,
// none of which share code with the device bodies (trix/kernels/*.body.h):
//  * an fp64 dot of the dequantized operands, computed here from the format
//    codecs (trix/formats), within a float-error bound of each kernel's
//    contract (per lane nb fma roundings relative to the running sum, the
//    scale products, 4 butterfly levels, with slack for higher-order terms);
//  * the Highway kernel of the same spec (dynamic dispatch, the best target
//    of this CPU; gemv_highway_peer.cc), held to the spec's accuracy field
//    (bit_exact for all of them: every backend follows one lanes16 order).
// Shapes: the kernels' CPU test sets (odd rows, K from 1 or 256 up to 13824,
// zero, extreme and real-quantizer cases) plus a few rows of each
// BitNet-2B-4T projection (K = 2560 and 6912).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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
#include "trix/formats/q4_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"
#include "trix/kernels/accuracy.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_f16_f32.h"
#include "trix/kernels/gemv_q4_k_q8_k.h"
#include "trix/kernels/gemv_q6_k_q8_k.h"
#include "trix/kernels/gemv_tq2_0_q8_k.h"

namespace trix::test {

void highway_gemv(const char* name, const GemvArgs& args);  // gemv_highway_peer.cc

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

template <class Problem>
GpuGemvProblem gpu_problem(const Problem& p, Fp64Row (*row)(const GemvArgs&, size_t)) {
  GpuGemvProblem out{p.label, p.args(nullptr), {}};
  for (size_t r = 0; r < p.rows; ++r) out.fp64.push_back(row(out.args, r));
  return out;
}

}  // namespace detail

// A few rows of each BitNet-2B-4T projection shape (rows x K: 2560 x 2560,
// 6912 x 2560, 2560 x 6912), plus K = 6912 + 256: not a multiple of 512.
inline constexpr size_t kBitNetKs[] = {2560, 6912, 6912 + 256};

inline const std::vector<GpuGemvKernel>& gpu_gemv_kernels() {
  static const std::vector<GemvProblem> tq2 = [] {
    std::vector<GemvProblem> v = gemv_problems();
    uint64_t seed = 900;
    for (size_t k : kBitNetKs) v.push_back(make_gemv_problem(5, k, GemvCase::kRandom, seed++));
    return v;
  }();
  static const std::vector<F16Problem> f16 = [] {
    std::vector<F16Problem> v = f16_problems();
    uint64_t seed = 900;
    for (size_t k : kBitNetKs) v.push_back(make_f16_problem(3, k, DenseCase::kRandom, seed++));
    return v;
  }();
  static const std::vector<Q6Problem> q6 = [] {
    std::vector<Q6Problem> v = q6_problems();
    uint64_t seed = 900;
    for (size_t k : kBitNetKs) v.push_back(make_q6_problem(3, k, KCase::kQuantized, seed++));
    return v;
  }();
  static const std::vector<Q4Problem> q4 = [] {
    std::vector<Q4Problem> v = q4_problems();
    uint64_t seed = 900;
    for (size_t k : kBitNetKs) v.push_back(make_q4_problem(3, k, KCase::kQuantized, seed++));
    return v;
  }();
  static const std::vector<GpuGemvKernel> all = [] {
    std::vector<GpuGemvKernel> out = {{"gemv_tq2_0_q8_k", kernels::gemv_tq2_0_q8_k::kAccuracy, {}},
                                      {"gemv_f16_f32", kernels::gemv_f16_f32::kAccuracy, {}},
                                      {"gemv_q6_k_q8_k", kernels::gemv_q6_k_q8_k::kAccuracy, {}},
                                      {"gemv_q4_k_q8_k", kernels::gemv_q4_k_q8_k::kAccuracy, {}}};
    for (const auto& p : tq2) {
      GpuGemvProblem g{p.label, p.args(nullptr), {}};
      for (size_t r = 0; r < p.rows; ++r) g.fp64.push_back(gemv_row_fp64(p, r));
      out[0].problems.push_back(std::move(g));
    }
    for (const auto& p : f16) out[1].problems.push_back(detail::gpu_problem(p, detail::f16_row));
    for (const auto& p : q6) out[2].problems.push_back(detail::gpu_problem(p, detail::q6_k_row));
    for (const auto& p : q4) out[3].problems.push_back(detail::gpu_problem(p, detail::q4_k_row));
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
  highway_gemv(spec.name, args);
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
