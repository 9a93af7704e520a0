// Per-target GEMV for the non-ternary tensors a model may hold (token
// embeddings, output projection, Q8_0 or F16 files), one Highway body per
// target. Included once per target, hence the toggle guard.
//
// GemvQ8_0Q8_0Rows: Q8_0 weight rows x one Q8_0 activation row, bit for bit
//   trix::vec_dot_q8_0_q8_0 per row: per 32-element block an exact int32
//   isum, then acc = fma(float(isum), d_w * d_a, acc) in block order. The
//   products are widened to int16 (|w * a| <= 128 * 128 = 16384) and summed
//   pairwise into int32 (ReorderWidenMulAccumulate: vpmaddwd, smlal); a
//   block's |isum| <= 32 * 16384 = 2^19, exact in float. kRowsPerStep rows
//   share each activation block's load and scale.
// GemvF16F32Rows: F16 weight rows x f32 activations in the lanes16 order of
//   trix/kernels/gemv_f16_f32_ref.h, bit for bit: element i goes to lane
//   i % 16 with a fused multiply-add, so a target with N f32 lanes (N = 4,
//   8 or 16) keeps 16 / N accumulators; the tail is zero-padded (fma(0, 0,
//   acc) = acc: an accumulator that starts at +0 never becomes -0).
// Targets without native FMA (SSSE3, SSE4, EMU128) and SCALAR run the
// references' own loops for the float steps (std::fma per lane).
#if defined(TRIX_CPU_GEMV_DENSE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_GEMV_DENSE_INL_H_
#undef TRIX_CPU_GEMV_DENSE_INL_H_
#else
#define TRIX_CPU_GEMV_DENSE_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q8_0.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_f16_f32_ref.h"
#include "trix/kernels/lanes16.h"

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

template <size_t kRowsPerStep>
inline void GemvQ8_0Q8_0Rows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const auto* x = static_cast<const BlockQ8_0*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  auto row_ptr = [&](size_t r) {
    return reinterpret_cast<const BlockQ8_0*>(w_base + r * args.w_row_bytes);
  };
#if HWY_TARGET == HWY_SCALAR
  for (size_t r = row_begin; r < row_end; ++r) args.y[r] = vec_dot_q8_0_q8_0(row_ptr(r), x, args.k);
#else
  namespace hn = hwy::HWY_NAMESPACE;
  constexpr size_t kQK = BlockQ8_0::kElements;
  const hn::CappedTag<int16_t, kQK> d16;  // at most one block per vector
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const hn::Repartition<int32_t, decltype(d16)> d32;
  const size_t N = hn::Lanes(d16);  // a power of two <= 32: divides the block
  const size_t nb = args.k / kQK;
  for (size_t r = row_begin; r < row_end; r += kRowsPerStep) {
    const size_t R = std::min(kRowsPerStep, row_end - r);
    const BlockQ8_0* rows[kRowsPerStep];
    float acc[kRowsPerStep] = {};
    for (size_t i = 0; i < R; ++i) rows[i] = row_ptr(r + i);
    for (size_t b = 0; b < nb; ++b) {
      const float da = fp16_to_fp32(x[b].d);
      for (size_t i = 0; i < R; ++i) {
        const BlockQ8_0& wb = rows[i][b];
        auto s0 = hn::Zero(d32);
        auto s1 = hn::Zero(d32);
        for (size_t j = 0; j < kQK; j += N) {
          const auto a = hn::PromoteTo(d16, hn::LoadU(d8, x[b].qs + j));
          const auto w = hn::PromoteTo(d16, hn::LoadU(d8, wb.qs + j));
          s0 = hn::ReorderWidenMulAccumulate(d32, w, a, s0, s1);
        }
        const int32_t isum = hn::GetLane(hn::SumOfLanes(d32, hn::Add(s0, s1)));
        acc[i] = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * da, acc[i]);
      }
    }
    for (size_t i = 0; i < R; ++i) args.y[r + i] = acc[i];
  }
#endif
}

template <size_t kRowsPerStep>
inline void GemvF16F32Rows(const GemvArgs& args, size_t row_begin, size_t row_end) {
  const auto* x = static_cast<const float*>(args.x);
  const auto* w_base = static_cast<const uint8_t*>(args.w);
  auto row_ptr = [&](size_t r) { return reinterpret_cast<const uint16_t*>(w_base + r * args.w_row_bytes); };
  (void)kRowsPerStep;  // one row at a time: x stays in L1, the rows stream
#if HWY_TARGET == HWY_SCALAR || !HWY_NATIVE_FMA
  for (size_t r = row_begin; r < row_end; ++r) args.y[r] = kernels::gemv_f16_f32_row_ref(row_ptr(r), x, args.k);
#else
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::CappedTag<float, 16> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const size_t N = hn::Lanes(df);  // 4, 8 or 16 on these targets
  const size_t k = args.k;
  for (size_t r = row_begin; r < row_end; ++r) {
    const auto* w = reinterpret_cast<const hwy::float16_t*>(row_ptr(r));
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    auto step = [&](const hwy::float16_t* wp, const float* xp) {
      a0 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp)), hn::LoadU(df, xp), a0);
      if (N <= 8) a1 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp + N)), hn::LoadU(df, xp + N), a1);
      if (N == 4) {
        a2 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp + 2 * N)), hn::LoadU(df, xp + 2 * N), a2);
        a3 = hn::MulAdd(hn::PromoteTo(df, hn::LoadU(dh, wp + 3 * N)), hn::LoadU(df, xp + 3 * N), a3);
      }
    };
    size_t i = 0;
    for (; i + 16 <= k; i += 16) step(w + i, x + i);
    if (i < k) {
      alignas(64) uint16_t wt[16] = {};
      alignas(64) float xt[16] = {};
      std::memcpy(wt, w + i, (k - i) * sizeof(uint16_t));
      std::memcpy(xt, x + i, (k - i) * sizeof(float));
      step(reinterpret_cast<const hwy::float16_t*>(wt), xt);
    }
    alignas(64) float lanes[16];
    hn::StoreU(a0, df, lanes);
    if (N <= 8) hn::StoreU(a1, df, lanes + N);
    if (N == 4) {
      hn::StoreU(a2, df, lanes + 2 * N);
      hn::StoreU(a3, df, lanes + 3 * N);
    }
    args.y[r] = lanes16_combine(lanes);
  }
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#endif  // TRIX_CPU_GEMV_DENSE_INL_H_
