// The TriX SparseLookupFFN (the public `trix` package v0.4.0, module
// sparse_lookup) for inference: weights as views, prepared once at load
// (signatures packed 2-bit, spline coefficients made ternary), and the
// block that adds it to the residual stream of n_tok tokens.
//
// Semantics (the reference module's forward at inference; specs/models/
// trix_sparse_lookup_*.yaml and specs/README.md document the same):
//   xn = LayerNorm(x) (weight, bias, eps)
//   s_t = sign(direction_t) (sign(0) = 0); cluster c = tiles
//     [c k, c k + k) (k = tiles_per_cluster), sig_c = sign(sum of its s_t)
//     (the sign of their mean);
//   cluster = argmax_c xn . sig_c, tile = argmax over the cluster's tiles of
//     xn . s_t, ties to the lowest index (torch.argmax);
//   (a, b) = tanh(W2 gelu(W1 xn + b1) + b2) (exact erf GELU);
//   q(c) = +1 if c > 0.3, -1 if c < -0.3, else 0 for every spline
//     coefficient (base, slope_a, slope_b) of the tile's G x G grid;
//   i = clamp(floor((a + 1) / 2 G), 0, G - 1), j likewise from b, cell 2 / G,
//     la = ((a + 1) - i cell) / cell, lb likewise;
//   value = scale_t (base + slope_a la + slope_b lb) at cell [i][j];
//   x += output_scale * value * direction_t.
// Only the winning tile's direction and spline cell are read per token. In
// prefill the tokens are grouped by tile, so each direction is read once
// per chunk.
//
// Accuracy: f32 throughout (LayerNorm and signature sums in vector order,
// trix/cpu/sparse_lookup-inl.h; W1 / W2 in the weights' format through
// trix/runtime/matmul.h). Routing and the spline cell are discrete: an
// input within rounding of a tie or a cell edge may pick the other side
// than fp64 would.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/cpu/ops.h"
#include "trix/runtime/matmul.h"
#include "trix/runtime/weights.h"

namespace trix {

// The sizes of one SparseLookupFFN.
struct SparseLookupDims {
  int64_t dim = 0;
  int64_t tiles = 0;
  int64_t tiles_per_cluster = 0;
  int64_t grid = 16;
  int64_t compress_hidden = 0;  // the reference's default: dim / 4
  float norm_eps = 1e-5f;

  int64_t clusters() const { return tiles / tiles_per_cluster; }
  int64_t spline_values() const { return grid * grid * 3; }  // per tile: [i][j][base, slope_a, slope_b]

  // Throws trix::Error naming the first field out of range.
  void validate() const {
    const auto need = [](bool ok, const char* field, int64_t got, const char* expected) {
      if (!ok) {
        std::string msg = "sparse lookup: ";
        msg += field;
        msg += " = ";
        msg += std::to_string(got);
        msg += ", expected ";
        msg += expected;
        throw Error(msg);
      }
    };
    need(dim > 0, "dim", dim, "> 0");
    need(tiles > 0, "tiles", tiles, "> 0");
    need(tiles_per_cluster > 0 && tiles % tiles_per_cluster == 0, "tiles_per_cluster", tiles_per_cluster,
         "> 0 and dividing tiles");
    need(grid > 0 && grid <= 4096, "grid", grid, "in [1, 4096]");
    need(compress_hidden > 0, "compress_hidden", compress_hidden, "> 0");
    if (!(norm_eps > 0.0f)) throw Error("sparse lookup: norm_eps must be > 0");
  }
};

// Views of one SparseLookupFFN's tensors (GGUF names in specs/README.md).
struct SparseLookupWeights {
  WeightView norm_weight, norm_bias;           // F32 [dim]
  WeightView directions;                       // F32 [tiles x dim]
  WeightView compress_in, compress_in_bias;    // [compress_hidden x dim] any matmul format; F32 [compress_hidden]
  WeightView compress_out, compress_out_bias;  // [2 x compress_hidden] any matmul format; F32 [2]
  WeightView spline_coeffs;                    // F32 [tiles x grid * grid * 3], as trained (made ternary at load)
  WeightView spline_scale;                     // F32 [tiles]
  WeightView output_scale;                     // F32 [1]
};

// ------------------------------------------------------------------ scalar pieces

// The 2-bit code of a ternary value: 0 -> 0, +1 -> 1, -1 -> 2.
constexpr uint32_t kSignatureWordElements = 16;
inline int64_t signature_words(int64_t n) {
  return (n + kSignatureWordElements - 1) / static_cast<int64_t>(kSignatureWordElements);
}

// Packs sign(v[e]) of n values into words (signature_words(n) of them).
inline void pack_signs(const float* v, int64_t n, uint32_t* words) {
  std::fill(words, words + signature_words(n), 0u);
  for (int64_t e = 0; e < n; ++e) {
    const uint32_t code = v[e] > 0.0f ? 1u : v[e] < 0.0f ? 2u : 0u;
    words[e / 16] |= code << (2 * (e % 16));
  }
}

// The reference's ternary quantisation of a spline coefficient.
constexpr int8_t spline_ternary(float c) { return c > 0.3f ? 1 : c < -0.3f ? -1 : 0; }

// The spline cell of coordinate a in [-1, 1]: clamp(floor((a + 1) / 2 G), 0,
// G - 1). A NaN (never produced by tanh of a finite input) maps to cell 0.
inline int64_t spline_cell(float a, int64_t grid) {
  const float u = (a + 1.0f) / 2.0f * static_cast<float>(grid);
  if (!(u > 0.0f)) return 0;
  if (u >= static_cast<float>(grid)) return grid - 1;
  return std::min(static_cast<int64_t>(u), grid - 1);
}

// base + slope_a la + slope_b lb of a tile's ternary grid ([i][j][3] int8),
// before the tile's scale.
inline float spline_lookup(const int8_t* coeffs, int64_t grid, float a, float b) {
  const int64_t i = spline_cell(a, grid), j = spline_cell(b, grid);
  const float cell = 2.0f / static_cast<float>(grid);
  const float la = ((a + 1.0f) - static_cast<float>(i) * cell) / cell;
  const float lb = ((b + 1.0f) - static_cast<float>(j) * cell) / cell;
  const int8_t* c = coeffs + (i * grid + j) * 3;
  return static_cast<float>(c[0]) + static_cast<float>(c[1]) * la + static_cast<float>(c[2]) * lb;
}

// Index of the first maximum of scores[0, n) (torch.argmax's tie rule).
inline int64_t first_argmax(const float* scores, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (scores[i] > scores[best]) best = i;
  }
  return best;
}

inline float gelu_erf(float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); }

// ------------------------------------------------------------------ prepared form

struct PreparedSparseLookup {
  SparseLookupDims dims;
  const float* norm_weight = nullptr;
  const float* norm_bias = nullptr;
  const float* directions = nullptr;  // [tiles][dim], read one row per token
  const float* compress_in_bias = nullptr;
  const float* compress_out_bias = nullptr;
  const float* spline_scale = nullptr;
  float output_scale = 0.0f;
  PreparedWeight compress_in, compress_out;
  int64_t words = 0;                        // uint32 words per signature
  std::vector<uint32_t> tile_signatures;    // [tiles][words]
  std::vector<uint32_t> cluster_signatures; // [clusters][words]
  std::vector<int8_t> splines;              // [tiles][grid][grid][3] in {-1, 0, +1}

  // Bytes one token reads: its LayerNorm, W1 and W2 with their biases, the
  // cluster signatures and its cluster's tile signatures, one spline cell
  // and scale, one direction.
  int64_t bytes_per_token() const {
    const int64_t d = dims.dim, h = dims.compress_hidden;
    return 2 * d * 4 + compress_in.view.row_bytes() * h + h * 4 + compress_out.view.row_bytes() * 2 + 2 * 4 +
           (dims.clusters() + dims.tiles_per_cluster) * words * 4 + 3 + 4 + 4 + d * 4;
  }
};

namespace detail {

inline void check_f32(const WeightView& w, const std::string& name, int64_t rows, int64_t cols) {
  check_matrix(w, name, rows, cols);
  if (w.format != FormatId::F32) {
    throw Error("model weights: " + name + " has format " + format_name(w.format) + ", expected F32");
  }
}

}  // namespace detail

// Checks every view of `w` against `dims` (trix::Error naming the tensor,
// prefixed by `name`) and prepares it: signatures packed, the cluster
// signatures formed, the spline coefficients quantised. The views must
// outlive the result (directions, biases and scales are read in place).
inline PreparedSparseLookup prepare_sparse_lookup(const SparseLookupDims& dims, const SparseLookupWeights& w,
                                                  const std::string& name = "sparse lookup ") {
  dims.validate();
  const int64_t d = dims.dim, h = dims.compress_hidden, t = dims.tiles;
  detail::check_f32(w.norm_weight, name + "norm_weight", 1, d);
  detail::check_f32(w.norm_bias, name + "norm_bias", 1, d);
  detail::check_f32(w.directions, name + "directions", t, d);
  detail::check_matrix(w.compress_in, name + "compress_in", h, d);
  detail::check_f32(w.compress_in_bias, name + "compress_in_bias", 1, h);
  detail::check_matrix(w.compress_out, name + "compress_out", 2, h);
  detail::check_f32(w.compress_out_bias, name + "compress_out_bias", 1, 2);
  detail::check_f32(w.spline_coeffs, name + "spline_coeffs", t, dims.spline_values());
  detail::check_f32(w.spline_scale, name + "spline_scale", 1, t);
  detail::check_f32(w.output_scale, name + "output_scale", 1, 1);
  for (const auto* m : {&w.compress_in, &w.compress_out}) {
    if (!matvec_supported(m->format)) {
      throw Error("model weights: " + name + (m == &w.compress_in ? "compress_in" : "compress_out") +
                  " has format " + format_name(m->format) + ", which the runtime cannot multiply");
    }
  }

  PreparedSparseLookup p;
  p.dims = dims;
  p.norm_weight = static_cast<const float*>(w.norm_weight.data);
  p.norm_bias = static_cast<const float*>(w.norm_bias.data);
  p.directions = static_cast<const float*>(w.directions.data);
  p.compress_in_bias = static_cast<const float*>(w.compress_in_bias.data);
  p.compress_out_bias = static_cast<const float*>(w.compress_out_bias.data);
  p.spline_scale = static_cast<const float*>(w.spline_scale.data);
  p.output_scale = *static_cast<const float*>(w.output_scale.data);
  p.compress_in = prepare_weight(w.compress_in);
  p.compress_out = prepare_weight(w.compress_out);
  p.words = signature_words(d);
  const auto words = static_cast<size_t>(p.words);
  p.tile_signatures.resize(static_cast<size_t>(t) * words);
  for (int64_t i = 0; i < t; ++i) pack_signs(p.directions + i * d, d, p.tile_signatures.data() + i * p.words);
  const int64_t k = dims.tiles_per_cluster;
  p.cluster_signatures.resize(static_cast<size_t>(dims.clusters()) * words);
  std::vector<float> sum(static_cast<size_t>(d));
  for (int64_t c = 0; c < dims.clusters(); ++c) {
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (int64_t i = c * k; i < (c + 1) * k; ++i) {
      for (int64_t e = 0; e < d; ++e) {
        const float v = p.directions[i * d + e];
        sum[static_cast<size_t>(e)] += v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : 0.0f;  // exact: small integers
      }
    }
    pack_signs(sum.data(), d, p.cluster_signatures.data() + c * p.words);
  }
  const auto* coeffs = static_cast<const float*>(w.spline_coeffs.data);
  p.splines.resize(static_cast<size_t>(t * dims.spline_values()));
  for (size_t i = 0; i < p.splines.size(); ++i) p.splines[i] = spline_ternary(coeffs[i]);
  return p;
}

// Scratch of sparse_lookup_block for up to max_tok tokens (allocated once).
struct SparseLookupScratch {
  std::vector<float> xn, hidden, ab, scores, coef;
  std::vector<int32_t> tile, order;
  std::vector<int64_t> start;
  PreparedScratch matmul;

  SparseLookupScratch() = default;
  SparseLookupScratch(const SparseLookupDims& d, int64_t max_tok) { reserve(d, max_tok); }
  void reserve(const SparseLookupDims& d, int64_t max_tok) {
    const auto n = static_cast<size_t>(max_tok);
    xn.resize(n * static_cast<size_t>(d.dim));
    hidden.resize(n * static_cast<size_t>(d.compress_hidden));
    ab.resize(n * 2);
    scores.resize(static_cast<size_t>(std::max(d.clusters(), d.tiles_per_cluster)));
    coef.resize(n);
    tile.resize(n);
    order.resize(n);
    start.resize(static_cast<size_t>(d.tiles) + 1);
  }
};

// The routed tile of one normed token (two-level, ties to the lowest index).
inline int64_t sparse_lookup_route(const PreparedSparseLookup& p, const float* xn, float* scores) {
  const auto d = static_cast<size_t>(p.dims.dim), words = static_cast<size_t>(p.words);
  const int64_t k = p.dims.tiles_per_cluster;
  cpu::ops::ternary_signature_scores(xn, p.cluster_signatures.data(), words,
                                     static_cast<size_t>(p.dims.clusters()), d, scores);
  const int64_t cluster = first_argmax(scores, p.dims.clusters());
  cpu::ops::ternary_signature_scores(xn, p.tile_signatures.data() + cluster * k * p.words, words,
                                     static_cast<size_t>(k), d, scores);
  return cluster * k + first_argmax(scores, k);
}

// x[t] += output_scale * value_t * direction_{tile_t} for n_tok tokens of
// x ([n_tok][dim]), per the file comment. `s` sized for n_tok (reserve).
inline void sparse_lookup_block(const PreparedSparseLookup& p, int64_t n_tok, float* x, SparseLookupScratch& s,
                                ThreadPool& pool) {
  const SparseLookupDims& dm = p.dims;
  const int64_t d = dm.dim, h = dm.compress_hidden;
  for (int64_t t = 0; t < n_tok; ++t) {
    cpu::ops::layernorm(x + t * d, p.norm_weight, p.norm_bias, s.xn.data() + t * d, static_cast<size_t>(d),
                        dm.norm_eps);
  }
  // The compression MLP, all tokens at once.
  matmul(p.compress_in, s.xn.data(), n_tok, s.hidden.data(), pool, s.matmul);
  for (int64_t t = 0; t < n_tok; ++t) {
    float* hid = s.hidden.data() + t * h;
    for (int64_t i = 0; i < h; ++i) hid[i] = gelu_erf(hid[i] + p.compress_in_bias[i]);
  }
  matmul(p.compress_out, s.hidden.data(), n_tok, s.ab.data(), pool, s.matmul);
  // Route and look up; count tokens per tile.
  std::fill(s.start.begin(), s.start.end(), int64_t{0});
  const int64_t cells = dm.spline_values();
  for (int64_t t = 0; t < n_tok; ++t) {
    const int64_t tile = sparse_lookup_route(p, s.xn.data() + t * d, s.scores.data());
    const float a = std::tanh(s.ab[static_cast<size_t>(2 * t)] + p.compress_out_bias[0]);
    const float b = std::tanh(s.ab[static_cast<size_t>(2 * t + 1)] + p.compress_out_bias[1]);
    const float value = p.spline_scale[tile] * spline_lookup(p.splines.data() + tile * cells, dm.grid, a, b);
    s.tile[static_cast<size_t>(t)] = static_cast<int32_t>(tile);
    s.coef[static_cast<size_t>(t)] = p.output_scale * value;
    ++s.start[static_cast<size_t>(tile) + 1];
  }
  // Tokens grouped by tile (a stable counting sort): each chosen direction
  // is streamed once for all the tokens that chose it.
  for (size_t i = 1; i < s.start.size(); ++i) s.start[i] += s.start[i - 1];
  for (int64_t t = 0; t < n_tok; ++t) {
    s.order[static_cast<size_t>(s.start[static_cast<size_t>(s.tile[static_cast<size_t>(t)])]++)] =
        static_cast<int32_t>(t);
  }
  for (int64_t i = 0; i < n_tok; ++i) {
    const auto t = static_cast<size_t>(s.order[static_cast<size_t>(i)]);
    cpu::ops::axpy(s.coef[t], p.directions + s.tile[t] * d, x + static_cast<int64_t>(t) * d,
                   static_cast<size_t>(d));
  }
}

}  // namespace trix
