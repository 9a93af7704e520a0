// An fp64 scalar re-implementation of llama.cpp's LLM_ARCH_BITNET graph
// (bitnet-b1.58-2B-4T: NeoX RoPE, attn_sub_norm before wo, relu^2 gate or
// SiLU when asked (a file's hidden_activation),
// ffn_sub_norm before w_down, output tied to token_embd), written
// independently of the runtime, one token at a time. Weights are plain float
// matrices (row-major [rows][cols]); every sum is in double.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace trix::test {

struct BitnetRefDims {
  int64_t dim, ffn, layers, heads, kv_heads, head_dim, vocab;
  double theta = 500000.0;
  double eps = 1e-5;
  bool silu = false;  // gate act: SiLU instead of relu^2
};

struct BitnetRefWeights {
  std::vector<float> embd, out_norm;  // [vocab][dim], [dim]
  struct Layer {
    std::vector<float> attn_norm, wq, wk, wv, attn_sub_norm, wo, ffn_norm, gate, up, ffn_sub_norm,
        down;
  };
  std::vector<Layer> layers;
};

using RefVec = std::vector<double>;

inline RefVec ref_matvec(const std::vector<float>& m, const RefVec& x, int64_t rows) {
  const size_t cols = x.size();
  RefVec y(static_cast<size_t>(rows), 0.0);
  for (size_t r = 0; r < y.size(); ++r) {
    for (size_t c = 0; c < cols; ++c) y[r] += double{m[r * cols + c]} * x[c];
  }
  return y;
}

inline RefVec ref_rmsnorm(const RefVec& x, const std::vector<float>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double k = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  RefVec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * k * w[i];
  return y;
}

// NeoX RoPE: element i pairs with i + head_dim/2, frequency theta^(-2i/hd).
inline void ref_rope(RefVec& v, int64_t n_heads, int64_t head_dim, int64_t pos, double theta) {
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < head_dim / 2; ++i) {
      const double ang = static_cast<double>(pos) *
                         std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
      double& a = v[static_cast<size_t>(h * head_dim + i)];
      double& b = v[static_cast<size_t>(h * head_dim + i + head_dim / 2)];
      const double a0 = a, b0 = b;
      a = a0 * std::cos(ang) - b0 * std::sin(ang);
      b = a0 * std::sin(ang) + b0 * std::cos(ang);
    }
  }
}

class BitnetReference {
 public:
  BitnetReference(const BitnetRefDims& d, const BitnetRefWeights& w)
      : d_(d), w_(w), keys_(static_cast<size_t>(d.layers)), values_(static_cast<size_t>(d.layers)) {}

  // Logits after feeding `token` at the next position.
  RefVec step(int32_t token) {
    const int64_t D = d_.dim, HD = d_.head_dim, H = d_.heads, KVH = d_.kv_heads;
    const int64_t pos = static_cast<int64_t>(keys_[0].size());
    RefVec x(w_.embd.begin() + token * D, w_.embd.begin() + (token + 1) * D);
    for (int64_t l = 0; l < d_.layers; ++l) {
      const auto& L = w_.layers[static_cast<size_t>(l)];
      auto& keys = keys_[static_cast<size_t>(l)];
      auto& values = values_[static_cast<size_t>(l)];
      const RefVec h = ref_rmsnorm(x, L.attn_norm, d_.eps);
      RefVec q = ref_matvec(L.wq, h, H * HD);
      RefVec k = ref_matvec(L.wk, h, KVH * HD);
      const RefVec v = ref_matvec(L.wv, h, KVH * HD);
      ref_rope(q, H, HD, pos, d_.theta);
      ref_rope(k, KVH, HD, pos, d_.theta);
      keys.push_back(k);
      values.push_back(v);
      RefVec att(static_cast<size_t>(H * HD), 0.0);
      for (int64_t hd = 0; hd < H; ++hd) {
        const int64_t kvh = hd / (H / KVH);
        RefVec s(static_cast<size_t>(pos + 1));
        double mx = -1e300;
        for (int64_t p = 0; p <= pos; ++p) {
          double dot = 0;
          for (int64_t i = 0; i < HD; ++i) {
            dot += q[static_cast<size_t>(hd * HD + i)] *
                   keys[static_cast<size_t>(p)][static_cast<size_t>(kvh * HD + i)];
          }
          s[static_cast<size_t>(p)] = dot / std::sqrt(static_cast<double>(HD));
          mx = std::max(mx, s[static_cast<size_t>(p)]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (int64_t p = 0; p <= pos; ++p) {
          for (int64_t i = 0; i < HD; ++i) {
            att[static_cast<size_t>(hd * HD + i)] +=
                s[static_cast<size_t>(p)] / sum *
                values[static_cast<size_t>(p)][static_cast<size_t>(kvh * HD + i)];
          }
        }
      }
      const RefVec o = ref_matvec(L.wo, ref_rmsnorm(att, L.attn_sub_norm, d_.eps), D);
      for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
      const RefVec f = ref_rmsnorm(x, L.ffn_norm, d_.eps);
      const RefVec g = ref_matvec(L.gate, f, d_.ffn);
      const RefVec u = ref_matvec(L.up, f, d_.ffn);
      RefVec a(static_cast<size_t>(d_.ffn));
      for (size_t i = 0; i < a.size(); ++i) {
        const double act = d_.silu ? g[i] / (1.0 + std::exp(-g[i])) : (g[i] > 0 ? g[i] * g[i] : 0.0);
        a[i] = act * u[i];
      }
      const RefVec dn = ref_matvec(L.down, ref_rmsnorm(a, L.ffn_sub_norm, d_.eps), D);
      for (size_t i = 0; i < x.size(); ++i) x[i] += dn[i];
    }
    return ref_matvec(w_.embd, ref_rmsnorm(x, w_.out_norm, d_.eps), d_.vocab);
  }

 private:
  BitnetRefDims d_;
  const BitnetRefWeights& w_;
  std::vector<std::vector<RefVec>> keys_, values_;  // [layer][pos]
};

inline double ref_max_abs(const RefVec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

}  // namespace trix::test
