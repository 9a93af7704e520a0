// Per-target bodies of the TriX sparse-lookup FFN's vector ops (Highway):
// LayerNorm, ternary signature scores over 2-bit packed signatures, and the
// direction axpy. Included by trix/cpu/ops-inl.h inside its per-target pass
// (hence the toggle guard), after its detail helpers; trix/cpu/ops.h
// declares the dispatched entry points (layernorm, ternary_signature_scores,
// axpy), trix/runtime/sparse_lookup.h uses them.
//
// Contracts (tests/kernels/sparse_lookup_ops_test.cc checks them on every
// compiled target against fp64):
//   layernorm    (x - mean) / sqrt(var + eps) * w + b, var the biased
//                variance (PyTorch LayerNorm); sums in vector-lane order:
//                within 1e-5 relative of fp64 for n <= 4096;
//   signature    scores[r] = sum_e x[e] * s_r[e], s in {-1, 0, +1} from the
//   scores       2-bit codes of trix/runtime/sparse_lookup.h (0: 0, 1: +1,
//                2: -1, 16 per uint32 word, element e at bits 2 (e % 16));
//                only adds and subtracts, in lane order (a target's order
//                is fixed, so equal rows give equal scores: ties stay ties);
//   axpy         y[i] = y[i] + alpha * x[i], one rounding per Mul and Add.
// Any n is accepted; tails are padded, never read or written past n.
#if defined(TRIX_CPU_SPARSE_LOOKUP_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_SPARSE_LOOKUP_INL_H_
#undef TRIX_CPU_SPARSE_LOOKUP_INL_H_
#else
#define TRIX_CPU_SPARSE_LOOKUP_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
// detail::LoadTail / StoreTail / Map2 (whose end includes this file: either
// order leaves one copy of each per target).
#include "trix/cpu/ops-inl.h"

HWY_BEFORE_NAMESPACE();
#if !defined(__clang__) && defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
namespace trix::cpu {
namespace HWY_NAMESPACE {

// out = (x - mean(x)) / sqrt(var(x) + eps) * w + b; out may alias x.
inline void LayerNorm(const float* x, const float* w, const float* b, float* out, size_t n, float eps) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto vsum = hn::Zero(d);
  size_t i = 0;
  for (; i + N <= n; i += N) vsum = hn::Add(vsum, hn::LoadU(d, x + i));
  if (i < n) vsum = hn::Add(vsum, detail::LoadTail(d, x + i, n - i));
  const float mean = hn::GetLane(hn::SumOfLanes(d, vsum)) / static_cast<float>(n);
  const auto vmean = hn::Set(d, mean);
  auto vsq = hn::Zero(d);
  for (i = 0; i + N <= n; i += N) {
    const auto c = hn::Sub(hn::LoadU(d, x + i), vmean);
    vsq = hn::Add(vsq, hn::Mul(c, c));
  }
  if (i < n) {
    // Padding lanes hold the mean: they add (mean - mean)^2 = 0.
    const auto c = hn::Sub(detail::LoadTail(d, x + i, n - i, mean), vmean);
    vsq = hn::Add(vsq, hn::Mul(c, c));
  }
  const float var = hn::GetLane(hn::SumOfLanes(d, vsq)) / static_cast<float>(n);
  const auto vrstd = hn::Set(d, 1.0f / std::sqrt(var + eps));
  for (i = 0; i + N <= n; i += N) {
    const auto c = hn::Mul(hn::Sub(hn::LoadU(d, x + i), vmean), vrstd);
    hn::StoreU(hn::Add(hn::Mul(c, hn::LoadU(d, w + i)), hn::LoadU(d, b + i)), d, out + i);
  }
  if (i < n) {
    const size_t left = n - i;
    const auto c = hn::Mul(hn::Sub(detail::LoadTail(d, x + i, left), vmean), vrstd);
    detail::StoreTail(hn::Add(hn::Mul(c, detail::LoadTail(d, w + i, left)), detail::LoadTail(d, b + i, left)), d,
                      out + i, left);
  }
}

// scores[r] = x . s_r for n_rows signatures of n elements, row r at
// sigs + r * words_per_row (words_per_row >= ceil(n / 16); codes past n are
// 0). At most 16 lanes, so that one uint32 word covers whole vectors.
inline void TernarySignatureScores(const float* x, const uint32_t* sigs, size_t words_per_row, size_t n_rows,
                                   size_t n, float* scores) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::CappedTag<float, 16> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const size_t N = hn::Lanes(d);
  const auto shifts = hn::ShiftLeft<1>(hn::Iota(du, 0));  // 2 * lane
  const auto three = hn::Set(du, 3u), one = hn::Set(du, 1u), two = hn::Set(du, 2u);
  for (size_t r = 0; r < n_rows; ++r) {
    const uint32_t* row = sigs + r * words_per_row;
    auto acc = hn::Zero(d);
    for (size_t e = 0; e < n; e += N) {
      const uint32_t word = row[e / 16] >> (2 * (e % 16));
      const auto codes = hn::And(hn::Shr(hn::Set(du, word), shifts), three);
      const auto xv = e + N <= n ? hn::LoadU(d, x + e) : detail::LoadTail(d, x + e, n - e);
      acc = hn::Add(acc, hn::IfThenElseZero(hn::RebindMask(d, hn::Eq(codes, one)), xv));
      acc = hn::Sub(acc, hn::IfThenElseZero(hn::RebindMask(d, hn::Eq(codes, two)), xv));
    }
    scores[r] = hn::GetLane(hn::SumOfLanes(d, acc));
  }
}

// y += alpha * x.
inline void Axpy(float alpha, const float* x, float* y, size_t n) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::ScalableTag<float> d;
  const auto va = hn::Set(d, alpha);
  detail::Map2(d, y, x, y, n, [&](auto vy, auto vx) { return hn::Add(vy, hn::Mul(va, vx)); });
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#endif  // TRIX_CPU_SPARSE_LOOKUP_INL_H_
