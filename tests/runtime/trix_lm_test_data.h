// Random-weight TriX sparse-lookup models for the tests: the fp64
// reference's parameters (tests/runtime/trix_lm_reference.h) and F32
// runtime views of the same floats.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "runtime/trix_lm_reference.h"
#include "trix/runtime/trix_lm_blocks.h"
#include "trix/runtime/weights.h"

namespace trix::test {

inline std::vector<float> normal_floats(std::mt19937& rng, size_t n, double sd, double mean = 0.0) {
  std::normal_distribution<float> dist(static_cast<float>(mean), static_cast<float>(sd));
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

// Weights scaled so that every part matters: (a, b) spread over the grid,
// FFN outputs comparable to the residual.
inline SlfParams random_slf(std::mt19937& rng, int64_t dim, int64_t tiles, int64_t per_cluster, int64_t grid,
                            int64_t hidden) {
  SlfParams p;
  p.dim = dim;
  p.tiles = tiles;
  p.per_cluster = per_cluster;
  p.grid = grid;
  p.hidden = hidden;
  const auto d = static_cast<size_t>(dim), h = static_cast<size_t>(hidden), t = static_cast<size_t>(tiles);
  p.norm_w = normal_floats(rng, d, 0.1, 1.0);
  p.norm_b = normal_floats(rng, d, 0.1);
  p.directions = normal_floats(rng, t * d, 0.5);
  p.w1 = normal_floats(rng, h * d, 1.0 / std::sqrt(static_cast<double>(dim)));
  p.b1 = normal_floats(rng, h, 0.1);
  p.w2 = normal_floats(rng, 2 * h, 1.5 / std::sqrt(static_cast<double>(hidden)));
  p.b2 = normal_floats(rng, 2, 0.1);
  p.coeffs = normal_floats(rng, t * static_cast<size_t>(grid * grid * 3), 0.6);
  p.scale = normal_floats(rng, t, 0.3, 1.0);
  p.output_scale = 0.3f;
  return p;
}

inline WeightView f32_view(const std::vector<float>& v, int64_t rows, int64_t cols) {
  return WeightView{v.data(), FormatId::F32, rows, cols, 1.0f};
}

inline SparseLookupDims slf_dims(const SlfParams& p) {
  return {p.dim, p.tiles, p.per_cluster, p.grid, p.hidden, static_cast<float>(p.eps)};
}

inline SparseLookupWeights slf_views(const SlfParams& p) {
  SparseLookupWeights w;
  w.norm_weight = f32_view(p.norm_w, 1, p.dim);
  w.norm_bias = f32_view(p.norm_b, 1, p.dim);
  w.directions = f32_view(p.directions, p.tiles, p.dim);
  w.compress_in = f32_view(p.w1, p.hidden, p.dim);
  w.compress_in_bias = f32_view(p.b1, 1, p.hidden);
  w.compress_out = f32_view(p.w2, 2, p.hidden);
  w.compress_out_bias = f32_view(p.b2, 1, 2);
  w.spline_coeffs = f32_view(p.coeffs, p.tiles, p.grid * p.grid * 3);
  w.spline_scale = f32_view(p.scale, 1, p.tiles);
  w.output_scale = WeightView{&p.output_scale, FormatId::F32, 1, 1, 1.0f};
  return w;
}

inline LmParams random_lm(std::mt19937& rng, const TrixLmConfig& c) {
  LmParams p;
  p.dim = c.dim;
  p.n_heads = c.n_heads;
  p.vocab = c.vocab_size;
  p.context = c.context_length;
  p.eps = c.norm_eps;
  const auto d = static_cast<size_t>(c.dim);
  p.token_emb = normal_floats(rng, static_cast<size_t>(c.vocab_size) * d, 0.5);
  p.pos_emb = normal_floats(rng, static_cast<size_t>(c.context_length) * d, 0.2);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LmLayerParams L;
    L.ln_w = normal_floats(rng, d, 0.1, 1.0);
    L.ln_b = normal_floats(rng, d, 0.1);
    L.in_proj = normal_floats(rng, 3 * d * d, 1.0 / std::sqrt(static_cast<double>(c.dim)));
    L.in_bias = normal_floats(rng, 3 * d, 0.1);
    L.out_proj = normal_floats(rng, d * d, 0.5 / std::sqrt(static_cast<double>(c.dim)));
    L.out_bias = normal_floats(rng, d, 0.1);
    L.ffn = random_slf(rng, c.dim, c.tiles, c.tiles_per_cluster, c.grid, c.compress_hidden);
    p.layers.push_back(std::move(L));
  }
  p.lnf_w = normal_floats(rng, d, 0.1, 1.0);
  p.lnf_b = normal_floats(rng, d, 0.1);
  return p;
}

inline TrixLmWeights lm_views(const LmParams& p, const TrixLmConfig& c) {
  TrixLmWeights w;
  w.token_embd = f32_view(p.token_emb, c.vocab_size, c.dim);
  w.position_embd = f32_view(p.pos_emb, c.context_length, c.dim);
  for (const LmLayerParams& L : p.layers) {
    TrixLmLayerWeights v;
    v.attn_norm_weight = f32_view(L.ln_w, 1, c.dim);
    v.attn_norm_bias = f32_view(L.ln_b, 1, c.dim);
    v.attn_qkv = f32_view(L.in_proj, 3 * c.dim, c.dim);
    v.attn_qkv_bias = f32_view(L.in_bias, 1, 3 * c.dim);
    v.attn_output = f32_view(L.out_proj, c.dim, c.dim);
    v.attn_output_bias = f32_view(L.out_bias, 1, c.dim);
    v.ffn = slf_views(L.ffn);
    w.layers.push_back(v);
  }
  w.output_norm_weight = f32_view(p.lnf_w, 1, c.dim);
  w.output_norm_bias = f32_view(p.lnf_b, 1, c.dim);
  return w;
}

}  // namespace trix::test
