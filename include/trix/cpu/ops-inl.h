// Per-target bodies of the decoder's small ops (Highway): RMSNorm, RoPE
// (adjacent pairs and NeoX halves), SwiGLU, the relu^2 gate, softmax,
// residual add, one head's attention over an f32 or f16 KV cache, and the two activation quantizers (Q8_K blocks and
// bitnet.cpp's per-token int8). Included once per Highway target
// (foreach_target, in trix/cpu/implementation.h), hence the toggle guard;
// trix/cpu/ops.h declares the dispatched entry points. Its end includes
// trix/cpu/sparse_lookup-inl.h (the TriX sparse-lookup FFN's LayerNorm,
// ternary signature scores and axpy), which uses the helpers here.
//
// Contracts, each against the scalar version it replaces (tests/kernels/
// ops_test.cc checks every one on every compiled target):
//   quantizers          same bytes (and scale / sum) as quantize_row_q8_k and
//                       quantize_row_i8_s, non-finite inputs included;
//   rmsnorm, rope,      same bits as trix/runtime/matmul.h: the sum of squares
//   relu2, add          keeps dot_f32's fixed 8-lane order and every other
//                       step is one IEEE operation in the same order (FP
//                       contraction is turned off for this file's code
//                       under GCC, below; the scalar ops are compiled for
//                       baseline x86-64, which has no FMA to contract to);
//   attention           same bits as trix::attention_head but for its softmax;
//   swiglu, softmax     exp is Highway's polynomial (max error ~1 ulp per the
//                       Highway docs) instead of libm, and softmax sums in
//                       vector order: within a few ulp (swiglu; for gates
//                       near -88 exp overflows slightly early and the result
//                       is -0 instead of a value below 1e-36 in magnitude) and
//                       1e-6 absolute (probabilities) of fp64.
// Any n is accepted (tails are masked, never read or written past n), except
// that quantize_row_q8_k needs n % 256 == 0 (a precondition here; the
// reference throws).
#if defined(TRIX_CPU_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_OPS_INL_H_
#undef TRIX_CPU_OPS_INL_H_
#else
#define TRIX_CPU_OPS_INL_H_
#endif

#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/i2_s.h"
// The generated GEMV kernels join the same per-target pass: Highway allows
// one foreach_target pass per translation unit, so trix/cpu/implementation.h's
// pass over this file compiles them too.
#include "trix/cpu/kernels-inl.h"

HWY_BEFORE_NAMESPACE();
// GCC contracts a * b + c into an FMA in C++ whatever the -std (only its C
// front end turns contraction off for ISO modes), and these targets have FMA:
// off here, so each Mul and Add rounds once, as the scalar ops do. Scoped by
// HWY_BEFORE/AFTER_NAMESPACE's push/pop of the options.
#if !defined(__clang__) && defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
namespace trix::cpu {
namespace HWY_NAMESPACE {
namespace detail {

namespace hn = hwy::HWY_NAMESPACE;

// Highway 1.0.3 has no LoadN/StoreN, and its MaskedLoad reads whole vectors
// on some targets: tails go through a stack buffer instead, so nothing past
// element `count` is ever touched.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE hn::Vec<D> LoadTail(D d, const T* p, size_t count, T pad = T{0}) {
  HWY_ALIGN T buf[hn::MaxLanes(d)];
  for (size_t i = 0; i < hn::Lanes(d); ++i) buf[i] = i < count ? p[i] : pad;
  return hn::Load(d, buf);
}

template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void StoreTail(hn::Vec<D> v, D d, T* p, size_t count) {
  HWY_ALIGN T buf[hn::MaxLanes(d)];
  hn::Store(v, d, buf);
  std::memcpy(p, buf, count * sizeof(T));
}

// Applies f(d, x_vec...) lane-wise over n elements: out[i] = f(in0[i], ...).
// Full vectors, then one padded tail.
template <class D, class F>
HWY_INLINE void Map2(D d, const float* a, const float* b, float* out, size_t n, F f) {
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(f(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
  if (i < n) StoreTail(f(LoadTail(d, a + i, n - i), LoadTail(d, b + i, n - i)), d, out + i, n - i);
}

// sum_i a[i] * b[i] in trix::dot_f32's order: 8 running sums (element i
// feeds sum i % 8), products and sums rounded separately, combined as
// ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)). Same bits as dot_f32.
inline float DotF32Lanes8(const float* a, const float* b, size_t n) {
  const hn::CappedTag<float, 8> d8;
  HWY_ALIGN float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const size_t N = hn::Lanes(d8);
  if (N == 8 || N == 4) {
    // N == 4: lanes 0-3 and 4-7 of the scalar order in two vectors. Padding
    // adds +0.0f products, which leave every sum unchanged (a sum that
    // starts at +0 is never -0).
    auto lo = hn::Zero(d8), hi = hn::Zero(d8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      lo = hn::Add(lo, hn::Mul(hn::LoadU(d8, a + i), hn::LoadU(d8, b + i)));
      if (N == 4) hi = hn::Add(hi, hn::Mul(hn::LoadU(d8, a + i + 4), hn::LoadU(d8, b + i + 4)));
    }
    if (i < n) {
      const size_t left = n - i;
      lo = hn::Add(lo, hn::Mul(LoadTail(d8, a + i, left), LoadTail(d8, b + i, left)));
      if (N == 4 && left > 4) {
        hi = hn::Add(hi, hn::Mul(LoadTail(d8, a + i + 4, left - 4), LoadTail(d8, b + i + 4, left - 4)));
      }
    }
    hn::Store(lo, d8, s);
    if (N == 4) hn::Store(hi, d8, s + 4);
  } else {  // one-lane targets: the scalar loop itself
    for (size_t i = 0; i < n; ++i) s[i % 8] += a[i] * b[i];
  }
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

}  // namespace detail

// out = x / sqrt(mean(x^2) + eps) * w; out may alias x. Same bits as
// trix::rmsnorm.
inline void RmsNorm(const float* x, const float* w, float* out, size_t n, float eps) {
  namespace hn = hwy::HWY_NAMESPACE;
  const float ss = detail::DotF32Lanes8(x, x, n) / static_cast<float>(n);
  const float scale = 1.0f / std::sqrt(ss + eps);
  const hn::ScalableTag<float> d;
  const auto vscale = hn::Set(d, scale);
  detail::Map2(d, x, w, out, n, [&](auto vx, auto vw) { return hn::Mul(hn::Mul(vx, vscale), vw); });
}

// Rotates n_heads consecutive head_dim-long vectors of x by the angles of a
// rope_table (cos_t, sin_t: head_dim / 2 entries). Adjacent: pairs (2i,
// 2i+1); NeoX: pairs (i, i + head_dim / 2). head_dim even and <= 1024. Same
// bits as trix::rope_apply.
inline void RopeAdjacent(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                         const float* sin_t) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  assert(head_dim % 2 == 0 && head_dim <= 1024);
  if (N == 1) {  // a one-lane vector cannot hold a pair
    for (size_t h = 0; h < n_heads; ++h) {
      float* v = x + h * head_dim;
      for (size_t i = 0; i < head_dim / 2; ++i) {
        const float x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * cos_t[i] - x1 * sin_t[i];
        v[2 * i + 1] = x0 * sin_t[i] + x1 * cos_t[i];
      }
    }
    return;
  }
  // Per lane: out = x * c + swap_pairs(x) * s', with c repeated per pair and
  // s' = (-s, +s): lane 2i gets x0*c + (-(x1*s)) = x0*c - x1*s exactly, and
  // lane 2i+1 gets x1*c + x0*s, the scalar sum with its operands swapped.
  HWY_ALIGN float c2[1024], s2[1024];
  for (size_t i = 0; i < head_dim / 2; ++i) {
    c2[2 * i] = c2[2 * i + 1] = cos_t[i];
    s2[2 * i] = -sin_t[i];
    s2[2 * i + 1] = sin_t[i];
  }
  auto rotate = [&](auto v, size_t j, size_t count) {
    const auto c = count == N ? hn::Load(d, c2 + j) : detail::LoadTail(d, c2 + j, count);
    const auto s = count == N ? hn::Load(d, s2 + j) : detail::LoadTail(d, s2 + j, count);
    return hn::Add(hn::Mul(v, c), hn::Mul(hn::Reverse2(d, v), s));
  };
  for (size_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    size_t j = 0;
    for (; j + N <= head_dim; j += N) hn::StoreU(rotate(hn::LoadU(d, v + j), j, N), d, v + j);
    if (j < head_dim) {
      const size_t left = head_dim - j;
      detail::StoreTail(rotate(detail::LoadTail(d, v + j, left), j, left), d, v + j, left);
    }
  }
}

inline void RopeNeox(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                     const float* sin_t) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t half = head_dim / 2;
  for (size_t h = 0; h < n_heads; ++h) {
    float* lo = x + h * head_dim;
    float* hi = lo + half;
    for (size_t i = 0; i < half; i += N) {
      const size_t count = half - i < N ? half - i : N;
      auto load = [&](const float* p) {
        return count == N ? hn::LoadU(d, p) : detail::LoadTail(d, p, count);
      };
      const auto x0 = load(lo + i), x1 = load(hi + i), c = load(cos_t + i), s = load(sin_t + i);
      const auto out0 = hn::Sub(hn::Mul(x0, c), hn::Mul(x1, s));
      const auto out1 = hn::Add(hn::Mul(x0, s), hn::Mul(x1, c));
      if (count == N) {
        hn::StoreU(out0, d, lo + i);
        hn::StoreU(out1, d, hi + i);
      } else {
        detail::StoreTail(out0, d, lo + i, count);
        detail::StoreTail(out1, d, hi + i, count);
      }
    }
  }
}

// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
inline void SwiGlu(float* gate, const float* up, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const auto one = hn::Set(d, 1.0f);
  // Highway's Exp is valid up to 104; beyond ~88.7 exp overflows to inf
  // anyway, so clamping keeps libm's result g / inf = -0.
  const auto exp_max = hn::Set(d, 100.0f);
  detail::Map2(d, gate, up, gate, n, [&](auto g, auto u) {
    const auto e = hn::Exp(d, hn::Min(hn::Neg(g), exp_max));
    return hn::Mul(hn::Div(g, hn::Add(one, e)), u);
  });
}

// gate[i] = relu(gate[i])^2 * up[i]. Same bits as trix::relu2_gate (NaN
// gates give 0 there too: the comparison is false).
inline void Relu2Gate(float* gate, const float* up, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const auto zero = hn::Zero(d);
  detail::Map2(d, gate, up, gate, n, [&](auto g, auto u) {
    const auto r = hn::IfThenElseZero(hn::Gt(g, zero), g);
    return hn::Mul(hn::Mul(r, r), u);
  });
}

// x += y. Same bits as trix::add_inplace.
inline void AddInplace(float* x, const float* y, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  detail::Map2(d, x, y, x, n, [](auto a, auto b) { return hn::Add(a, b); });
}

// In-place softmax over n >= 1 elements; the max is subtracted first so no
// exp overflows, and exp of anything below -104 (including -inf) is 0.
inline void Softmax(float* x, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto vmax = hn::Set(d, x[0]);
  size_t i = 0;
  for (; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
  if (i < n) vmax = hn::Max(vmax, detail::LoadTail(d, x + i, n - i, x[0]));
  const auto m = hn::MaxOfLanes(d, vmax);
  auto vsum = hn::Zero(d);
  for (i = 0; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), m));
    vsum = hn::Add(vsum, e);
    hn::StoreU(e, d, x + i);
  }
  if (i < n) {
    // Padding lanes hold x[0] (a finite exp at most 1), masked out of the sum.
    const auto e = hn::Exp(d, hn::Sub(detail::LoadTail(d, x + i, n - i, x[0]), m));
    vsum = hn::Add(vsum, hn::IfThenElseZero(hn::FirstN(d, n - i), e));
    detail::StoreTail(e, d, x + i, n - i);
  }
  const auto inv = hn::Set(d, 1.0f / hn::GetLane(hn::SumOfLanes(d, vsum)));
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), inv), d, x + i);
  if (i < n) detail::StoreTail(hn::Mul(detail::LoadTail(d, x + i, n - i), inv), d, x + i, n - i);
}

// x: n floats (n % 256 == 0); y: n / 256 blocks. Same bytes as
// trix::quantize_row_q8_k (see trix/formats/q8_k.h for the rules, NaN and
// inf included).
inline void QuantizeRowQ8K(const float* x, BlockQ8_K* y, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  constexpr size_t kQK = BlockQ8_K::kElements;
  assert(n % kQK == 0);
  // At most 16 lanes so that each run of 16 codes (one bsums entry) is a
  // whole number of vectors.
  const hn::CappedTag<float, 16> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const size_t N = hn::Lanes(df);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    BlockQ8_K& out = y[b];
    // Largest |x|; a NaN never wins (the comparison is false), as in the
    // reference's running `if (ax > amax)`.
    auto vamax = hn::Zero(df);
    for (size_t j = 0; j < kQK; j += N) {
      const auto ax = hn::Abs(hn::LoadU(df, x + j));
      vamax = hn::IfThenElse(hn::Gt(ax, vamax), ax, vamax);
    }
    const float amax = hn::GetLane(hn::MaxOfLanes(df, vamax));
    if (amax == 0.0f) {
      std::memset(&out, 0, sizeof out);
      continue;
    }
    // The reference keeps the first element that reaches the maximum.
    float max = 0.0f;
    for (size_t j = 0; j < kQK; j += N) {
      const intptr_t first = hn::FindFirstTrue(df, hn::Eq(hn::Abs(hn::LoadU(df, x + j)), hn::Set(df, amax)));
      if (first >= 0) {
        max = x[j + static_cast<size_t>(first)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const auto viscale = hn::Set(df, iscale);
    const auto bias = hn::Set(df, 12582912.0f);  // 1.5 * 2^23: ggml's nearest_int
    const auto mant = hn::Set(di, 0x007fffff), half = hn::Set(di, 0x00400000);
    const auto q_max = hn::Set(di, 127), low8 = hn::Set(di, 0xff), sign8 = hn::Set(di, 0x80);
    for (size_t g = 0; g < kQK / 16; ++g) {
      auto vsum = hn::Zero(di);
      for (size_t j = g * 16; j < g * 16 + 16; j += N) {
        const auto scaled = hn::Mul(viscale, hn::LoadU(df, x + j));
        auto q = hn::Sub(hn::And(hn::BitCast(di, hn::Add(scaled, bias)), mant), half);
        q = hn::IfThenZeroElse(hn::RebindMask(di, hn::IsNaN(scaled)), q);
        q = hn::Min(q, q_max);
        // The reference stores the low byte (C's int -> int8 conversion):
        // sign-extend it so the saturating demotion below is exact.
        q = hn::Sub(hn::Xor(hn::And(q, low8), sign8), sign8);
        vsum = hn::Add(vsum, q);
        hn::StoreU(hn::DemoteTo(d8, q), d8, out.qs + j);
      }
      out.bsums[g] = static_cast<int16_t>(hn::GetLane(hn::SumOfLanes(di, vsum)));  // |sum| <= 2048
    }
    out.d = 1.0f / iscale;
  }
}

// bitnet.cpp's per-token int8 activations: same codes, scale and sum as
// trix::quantize_row_i8_s (see trix/formats/i2_s.h). Any n.
inline I8Activation QuantizeRowI8S(const float* x, int8_t* q, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const size_t N = hn::Lanes(df);
  auto vmax = hn::Zero(df);
  auto nan = hn::FirstN(df, 0);  // all false (1.0.3 has no MaskFalse)
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(df, x + i);
    nan = hn::Or(nan, hn::IsNaN(v));
    vmax = hn::Max(vmax, hn::Abs(v));
  }
  if (i < n) {
    const auto v = detail::LoadTail(df, x + i, n - i);
    nan = hn::Or(nan, hn::IsNaN(v));
    vmax = hn::Max(vmax, hn::Abs(v));
  }
  // A NaN resets the reference's running max (bitnet.cpp's MAX), which
  // depends on where it sits: rare enough to hand to the reference itself.
  if (!hn::AllFalse(df, nan)) return quantize_row_i8_s(x, q, n);

  // Without NaN the running max is max(1e-5, max |x|); comparing the float
  // max in double is what the reference does element by element.
  const double amax = static_cast<double>(hn::GetLane(hn::MaxOfLanes(df, vmax)));
  const double max = amax > 0.00001 ? amax : 0.00001;
  const float s = static_cast<float>(127.0 / max);
  const auto vs = hn::Set(df, s);
  const auto bias = hn::Set(df, 12582912.0f);  // 1.5 * 2^23: ggml's nearest_int
  const auto mant = hn::Set(di, 0x007fffff), half = hn::Set(di, 0x00400000);
  const auto lo = hn::Set(di, -128), hi = hn::Set(di, 127);
  auto vsum = hn::Zero(di);
  auto codes = [&](auto v) {
    // nearest_int(v * s), half to even: the float add rounds (contraction
    // is off, so the product rounds first), then the low mantissa bits are
    // the code; an inf element times s = 0 gives NaN -> 0.
    const auto p = hn::Mul(v, vs);
    auto c = hn::Sub(hn::And(hn::BitCast(di, hn::Add(p, bias)), mant), half);
    c = hn::Min(hn::Max(c, lo), hi);
    c = hn::IfThenZeroElse(hn::RebindMask(di, hn::IsNaN(p)), c);
    vsum = hn::Add(vsum, c);
    return hn::DemoteTo(d8, c);
  };
  for (i = 0; i + N <= n; i += N) hn::StoreU(codes(hn::LoadU(df, x + i)), d8, q + i);
  if (i < n) {
    // Padding lanes are 0 and give code 0: the sum is unaffected.
    detail::StoreTail(codes(detail::LoadTail(df, x + i, n - i)), d8, q + i, n - i);
  }
  return {s, hn::GetLane(hn::SumOfLanes(di, vsum))};
}

namespace detail {

inline constexpr size_t kAttentionMaxHeadDim = 1024;

// head_dim floats of a cache row: f32 as is, f16 (IEEE half bits) widened
// once (exact) into `buf`.
HWY_INLINE const float* CacheRowF32(const float* row, size_t, float*) { return row; }
HWY_INLINE const float* CacheRowF32(const uint16_t* row, size_t n, float* buf) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::PromoteTo(d, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row + i))), d, buf + i);
  }
  for (; i < n; ++i) buf[i] = fp16_to_fp32(row[i]);
  return buf;
}

// Causal attention of one query head over n_pos cache positions (see
// AttentionHeadF32).
template <typename T>
inline void AttentionHead(const float* q, const T* keys, const T* values, size_t n_pos, size_t stride,
                          size_t head_dim, float* scores, float* out) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  assert(head_dim <= kAttentionMaxHeadDim);
  HWY_ALIGN float row[kAttentionMaxHeadDim];
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (size_t p = 0; p < n_pos; ++p) {
    scores[p] = DotF32Lanes8(q, CacheRowF32(keys + p * stride, head_dim, row), head_dim) * scale;
  }
  Softmax(scores, n_pos);
  // out[i] = sum_p scores[p] * v_p[i], p ascending from +0, one Mul and one
  // Add per step: 4 vectors of out stay in registers while the positions
  // stream past.
  for (size_t i0 = 0; i0 < head_dim; i0 += 4 * N) {
    const size_t cols = std::min(4 * N, head_dim - i0);
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (size_t p = 0; p < n_pos; ++p) {
      const T* vp = values + p * stride + i0;
      const float* v = std::is_same_v<T, float> ? reinterpret_cast<const float*>(vp) : CacheRowF32(vp, cols, row);
      const auto a = hn::Set(d, scores[p]);
      if (cols == 4 * N) {
        a0 = hn::Add(a0, hn::Mul(a, hn::LoadU(d, v)));
        a1 = hn::Add(a1, hn::Mul(a, hn::LoadU(d, v + N)));
        a2 = hn::Add(a2, hn::Mul(a, hn::LoadU(d, v + 2 * N)));
        a3 = hn::Add(a3, hn::Mul(a, hn::LoadU(d, v + 3 * N)));
      } else {  // the last, partial columns: padded lanes add 0 * 0
        a0 = hn::Add(a0, hn::Mul(a, LoadTail(d, v, cols)));
        if (cols > N) a1 = hn::Add(a1, hn::Mul(a, LoadTail(d, v + N, cols - N)));
        if (cols > 2 * N) a2 = hn::Add(a2, hn::Mul(a, LoadTail(d, v + 2 * N, cols - 2 * N)));
        if (cols > 3 * N) a3 = hn::Add(a3, hn::Mul(a, LoadTail(d, v + 3 * N, cols - 3 * N)));
      }
    }
    float* o = out + i0;
    if (cols == 4 * N) {
      hn::StoreU(a0, d, o);
      hn::StoreU(a1, d, o + N);
      hn::StoreU(a2, d, o + 2 * N);
      hn::StoreU(a3, d, o + 3 * N);
    } else {
      StoreTail(a0, d, o, std::min(cols, N));
      if (cols > N) StoreTail(a1, d, o + N, std::min(cols - N, N));
      if (cols > 2 * N) StoreTail(a2, d, o + 2 * N, std::min(cols - 2 * N, N));
      if (cols > 3 * N) StoreTail(a3, d, o + 3 * N, cols - 3 * N);
    }
  }
}

}  // namespace detail

// Causal attention of one query head over positions [0, n_pos), n_pos >= 1:
//   out = sum_p softmax_p(q . k_p / sqrt(head_dim)) * v_p
// keys / values point at position 0 of the head's kv head; positions are
// `stride` elements apart; scores: n_pos floats of scratch; head_dim <=
// 1024 (asserted). Same bits as trix::attention_head except for the
// softmax (Softmax above): the scores are dot_f32's 8-lane order times the
// scale, and out sums in position order with one rounding per Mul and Add.
inline void AttentionHeadF32(const float* q, const float* keys, const float* values, size_t n_pos,
                             size_t stride, size_t head_dim, float* scores, float* out) {
  detail::AttentionHead(q, keys, values, n_pos, stride, head_dim, scores, out);
}
// The same over an f16 cache (IEEE half bits), each element widened exactly.
inline void AttentionHeadF16(const float* q, const uint16_t* keys, const uint16_t* values, size_t n_pos,
                             size_t stride, size_t head_dim, float* scores, float* out) {
  detail::AttentionHead(q, keys, values, n_pos, stride, head_dim, scores, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

// The sparse-lookup FFN's ops use the detail helpers above.
#include "trix/cpu/sparse_lookup-inl.h"

#endif  // TRIX_CPU_OPS_INL_H_
