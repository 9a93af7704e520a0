// An fp64 reference of the TriX SparseLookupFFN and of the TriXLanguageModel
// around it, written from the semantics of issue 16 (the reference
// module's inference forward), not from the runtime's kernels: plain loops
// in double, whole-sequence causal attention recomputed for every position.
// Parameters are held in float (what a checkpoint stores) and read as double.
//
// Alongside the outputs it reports how far each discrete choice was from
// flipping (routing: best minus second-best score; spline: distance of
// (a + 1) / 2 G to the nearest cell edge inside the grid), so a test can
// check that an f32 run had no reason to choose differently.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace trix::test {

struct SlfParams {
  int64_t dim = 0, tiles = 0, per_cluster = 0, grid = 16, hidden = 0;
  double eps = 1e-5;
  std::vector<float> norm_w, norm_b;   // [dim]
  std::vector<float> directions;       // [tiles][dim]
  std::vector<float> w1, b1;           // [hidden][dim], [hidden]
  std::vector<float> w2, b2;           // [2][hidden], [2]
  std::vector<float> coeffs;           // [tiles][grid][grid][3]
  std::vector<float> scale;            // [tiles]
  float output_scale = 0.1f;
};

struct SlfMargins {
  double route = std::numeric_limits<double>::infinity();
  double cell = std::numeric_limits<double>::infinity();
  void merge(const SlfMargins& o) {
    route = std::min(route, o.route);
    cell = std::min(cell, o.cell);
  }
};

inline void layernorm_ref(const double* x, const float* w, const float* b, double eps, int64_t n, double* out) {
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  const double r = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - mean) * r * w[i] + b[i];
}

inline double sign_ref(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }

// argmax with torch's tie rule (first maximum) and the gap to the runner-up.
inline int64_t argmax_ref(const std::vector<double>& s, double* gap) {
  int64_t best = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(s.size()); ++i) {
    if (s[static_cast<size_t>(i)] > s[static_cast<size_t>(best)]) best = i;
  }
  double second = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    if (i != best) second = std::max(second, s[static_cast<size_t>(i)]);
  }
  *gap = s[static_cast<size_t>(best)] - second;
  return best;
}

// The routed tile of a normed input (two levels).
inline int64_t slf_route_ref(const SlfParams& p, const double* xn, SlfMargins* m) {
  const int64_t d = p.dim, k = p.per_cluster, clusters = p.tiles / k;
  const auto sig = [&](int64_t t, int64_t e) { return sign_ref(p.directions[static_cast<size_t>(t * d + e)]); };
  std::vector<double> cs(static_cast<size_t>(clusters));
  for (int64_t c = 0; c < clusters; ++c) {
    double dot = 0;
    for (int64_t e = 0; e < d; ++e) {
      double mean = 0;
      for (int64_t t = c * k; t < (c + 1) * k; ++t) mean += sig(t, e);
      mean /= static_cast<double>(k);
      dot += xn[e] * sign_ref(mean);
    }
    cs[static_cast<size_t>(c)] = dot;
  }
  double gap1 = std::numeric_limits<double>::infinity(), gap2 = gap1;
  const int64_t c = clusters > 1 ? argmax_ref(cs, &gap1) : 0;
  std::vector<double> ts(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) {
    double dot = 0;
    for (int64_t e = 0; e < d; ++e) dot += xn[e] * sig(c * k + i, e);
    ts[static_cast<size_t>(i)] = dot;
  }
  const int64_t i = k > 1 ? argmax_ref(ts, &gap2) : 0;
  if (m) m->route = std::min(m->route, std::min(gap1, gap2));
  return c * k + i;
}

inline double ternary_ref(double c) { return c > 0.3 ? 1.0 : c < -0.3 ? -1.0 : 0.0; }

// scale-free spline value of tile t at (a, b).
inline double spline_ref(const SlfParams& p, int64_t t, double a, double b, SlfMargins* m) {
  const int64_t g = p.grid;
  const auto cell_of = [&](double v) {
    const double u = (v + 1) / 2 * static_cast<double>(g);
    if (m && u > 0 && u < static_cast<double>(g)) m->cell = std::min(m->cell, std::fabs(u - std::round(u)));
    return std::clamp(static_cast<int64_t>(std::floor(u)), int64_t{0}, g - 1);
  };
  const int64_t i = cell_of(a), j = cell_of(b);
  const double cell = 2.0 / static_cast<double>(g);
  const double la = ((a + 1) - static_cast<double>(i) * cell) / cell;
  const double lb = ((b + 1) - static_cast<double>(j) * cell) / cell;
  const float* c = p.coeffs.data() + ((t * g + i) * g + j) * 3;
  return ternary_ref(c[0]) + ternary_ref(c[1]) * la + ternary_ref(c[2]) * lb;
}

// x (dim values) -> SparseLookupFFN(x), in place.
inline void slf_ref(const SlfParams& p, double* x, SlfMargins* m = nullptr, int64_t* tile_out = nullptr) {
  const int64_t d = p.dim, h = p.hidden;
  std::vector<double> xn(static_cast<size_t>(d));
  layernorm_ref(x, p.norm_w.data(), p.norm_b.data(), p.eps, d, xn.data());
  const int64_t tile = slf_route_ref(p, xn.data(), m);
  std::vector<double> hid(static_cast<size_t>(h));
  for (int64_t r = 0; r < h; ++r) {
    double s = p.b1[static_cast<size_t>(r)];
    for (int64_t e = 0; e < d; ++e) s += static_cast<double>(p.w1[static_cast<size_t>(r * d + e)]) * xn[static_cast<size_t>(e)];
    hid[static_cast<size_t>(r)] = 0.5 * s * (1.0 + std::erf(s / std::sqrt(2.0)));
  }
  double ab[2];
  for (int64_t r = 0; r < 2; ++r) {
    double s = p.b2[static_cast<size_t>(r)];
    for (int64_t e = 0; e < h; ++e) s += static_cast<double>(p.w2[static_cast<size_t>(r * h + e)]) * hid[static_cast<size_t>(e)];
    ab[r] = std::tanh(s);
  }
  const double value = p.scale[static_cast<size_t>(tile)] * spline_ref(p, tile, ab[0], ab[1], m);
  for (int64_t e = 0; e < d; ++e) {
    x[e] += static_cast<double>(p.output_scale) * value * p.directions[static_cast<size_t>(tile * d + e)];
  }
  if (tile_out) *tile_out = tile;
}

struct LmLayerParams {
  std::vector<float> ln_w, ln_b;          // [dim]
  std::vector<float> in_proj, in_bias;    // [3 dim][dim], [3 dim]
  std::vector<float> out_proj, out_bias;  // [dim][dim], [dim]
  SlfParams ffn;
};

struct LmParams {
  int64_t dim = 0, n_heads = 0, vocab = 0, context = 0;
  double eps = 1e-5;
  std::vector<float> token_emb;  // [vocab][dim]
  std::vector<float> pos_emb;    // [context][dim]
  std::vector<LmLayerParams> layers;
  std::vector<float> lnf_w, lnf_b;
};

inline void linear_ref(const std::vector<float>& w, const std::vector<float>& b, const double* x, int64_t rows,
                       int64_t cols, double* y) {
  for (int64_t r = 0; r < rows; ++r) {
    double s = b[static_cast<size_t>(r)];
    for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(w[static_cast<size_t>(r * cols + c)]) * x[c];
    y[r] = s;
  }
}

// Logits [n][vocab] of every position of `tokens` (positions 0 ..).
inline std::vector<double> lm_logits_ref(const LmParams& p, const std::vector<int32_t>& tokens,
                                         SlfMargins* m = nullptr) {
  const int64_t d = p.dim, n = static_cast<int64_t>(tokens.size()), hd = d / p.n_heads;
  std::vector<double> x(static_cast<size_t>(n * d));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t e = 0; e < d; ++e) {
      x[static_cast<size_t>(t * d + e)] =
          static_cast<double>(p.token_emb[static_cast<size_t>(tokens[static_cast<size_t>(t)] * d + e)]) +
          p.pos_emb[static_cast<size_t>(t * d + e)];
    }
  }
  std::vector<double> xn(static_cast<size_t>(d)), qkv(static_cast<size_t>(n * 3 * d)), att(static_cast<size_t>(n * d)),
      o(static_cast<size_t>(d));
  for (const LmLayerParams& l : p.layers) {
    for (int64_t t = 0; t < n; ++t) {
      layernorm_ref(x.data() + t * d, l.ln_w.data(), l.ln_b.data(), p.eps, d, xn.data());
      linear_ref(l.in_proj, l.in_bias, xn.data(), 3 * d, d, qkv.data() + t * 3 * d);
    }
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < p.n_heads; ++h) {
        const double* q = qkv.data() + t * 3 * d + h * hd;
        std::vector<double> w(static_cast<size_t>(t + 1));
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t s = 0; s <= t; ++s) {
          const double* k = qkv.data() + s * 3 * d + d + h * hd;
          double dot = 0;
          for (int64_t e = 0; e < hd; ++e) dot += q[e] * k[e];
          w[static_cast<size_t>(s)] = dot / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, w[static_cast<size_t>(s)]);
        }
        double sum = 0;
        for (double& v : w) sum += (v = std::exp(v - mx));
        for (int64_t e = 0; e < hd; ++e) {
          double acc = 0;
          for (int64_t s = 0; s <= t; ++s) acc += w[static_cast<size_t>(s)] / sum * qkv[static_cast<size_t>(s * 3 * d + 2 * d + h * hd + e)];
          att[static_cast<size_t>(t * d + h * hd + e)] = acc;
        }
      }
    }
    for (int64_t t = 0; t < n; ++t) {
      linear_ref(l.out_proj, l.out_bias, att.data() + t * d, d, d, o.data());
      for (int64_t e = 0; e < d; ++e) x[static_cast<size_t>(t * d + e)] += o[static_cast<size_t>(e)];
      slf_ref(l.ffn, x.data() + t * d, m);
    }
  }
  std::vector<double> logits(static_cast<size_t>(n * p.vocab));
  for (int64_t t = 0; t < n; ++t) {
    layernorm_ref(x.data() + t * d, p.lnf_w.data(), p.lnf_b.data(), p.eps, d, xn.data());
    for (int64_t v = 0; v < p.vocab; ++v) {
      double s = 0;
      for (int64_t e = 0; e < d; ++e) s += static_cast<double>(p.token_emb[static_cast<size_t>(v * d + e)]) * xn[static_cast<size_t>(e)];
      logits[static_cast<size_t>(t * p.vocab + v)] = s;
    }
  }
  return logits;
}

}  // namespace trix::test
