// The decoder's small ops (and one head's attention), vectorised with Highway (bodies and contracts in
// trix/cpu/ops-inl.h): dynamic dispatch to the best target of the running
// CPU (trix::cpu::ops::rmsnorm, ...), and static dispatch to the one target
// the translation unit is compiled for (trix::cpu::ops::static_target::
// rmsnorm, ...) for users who build with -march for a known machine. The
// namespace `ops` keeps these names (quantize_row_q8_k, softmax, ...) from
// colliding, through argument-dependent lookup, with the scalar ones in
// namespace trix when code in trix::cpu calls those unqualified.
//
// Highway allows one per-target pass (hwy/foreach_target.h) per translation
// unit. This header runs it, and the pass also compiles the generated GEMV /
// GEMM kernels, so generated/trix/cpu/dispatch.h may be included after this
// header (not before it: then this header stops with an #error). Each
// translation unit gets its own dispatch tables (internal linkage).
#pragma once

#include <cstddef>
#include <cstdint>

#include "trix/formats/blocks.h"
#include "trix/formats/i2_s.h"

#if defined(HIGHWAY_HWY_FOREACH_TARGET_H_) && !defined(TRIX_CPU_OPS_INL_H_)
#error "include trix/cpu/ops.h before any header that runs hwy/foreach_target.h (e.g. trix/cpu/dispatch.h): Highway allows one per-target pass per translation unit"
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "trix/cpu/ops-inl.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "trix/cpu/ops-inl.h"

namespace trix::cpu::ops {
namespace {

HWY_EXPORT(RmsNorm);
HWY_EXPORT(RopeAdjacent);
HWY_EXPORT(RopeNeox);
HWY_EXPORT(SwiGlu);
HWY_EXPORT(Relu2Gate);
HWY_EXPORT(AddInplace);
HWY_EXPORT(Softmax);
HWY_EXPORT(QuantizeRowQ8K);
HWY_EXPORT(QuantizeRowI8S);
HWY_EXPORT(AttentionHeadF32);
HWY_EXPORT(AttentionHeadF16);

// out = x / sqrt(mean(x^2) + eps) * w; out may alias x.
inline void rmsnorm(const float* x, const float* w, float* out, size_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(x, w, out, n, eps);
}
// RoPE over n_heads vectors of head_dim with a rope_table (head_dim / 2
// cos and sin values): pairs (2i, 2i+1).
inline void rope_adjacent(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                          const float* sin_t) {
  HWY_DYNAMIC_DISPATCH(RopeAdjacent)(x, n_heads, head_dim, cos_t, sin_t);
}
// The same with pairs (i, i + head_dim / 2) (NeoX, BitNet).
inline void rope_neox(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                      const float* sin_t) {
  HWY_DYNAMIC_DISPATCH(RopeNeox)(x, n_heads, head_dim, cos_t, sin_t);
}
// gate = silu(gate) * up.
inline void swiglu(float* gate, const float* up, size_t n) { HWY_DYNAMIC_DISPATCH(SwiGlu)(gate, up, n); }
// gate = relu(gate)^2 * up.
inline void relu2_gate(float* gate, const float* up, size_t n) {
  HWY_DYNAMIC_DISPATCH(Relu2Gate)(gate, up, n);
}
// x += y.
inline void add_inplace(float* x, const float* y, size_t n) { HWY_DYNAMIC_DISPATCH(AddInplace)(x, y, n); }
// In-place softmax, n >= 1.
inline void softmax(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(Softmax)(x, n); }
// Same bytes as trix::quantize_row_q8_k; n % 256 == 0 (asserted).
inline void quantize_row_q8_k(const float* x, BlockQ8_K* y, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeRowQ8K)(x, y, n);
}
// Same codes, scale and sum as trix::quantize_row_i8_s.
inline I8Activation quantize_row_i8_s(const float* x, int8_t* q, size_t n) {
  return HWY_DYNAMIC_DISPATCH(QuantizeRowI8S)(x, q, n);
}

// Causal attention of one query head over n_pos >= 1 cache positions
// `stride` elements apart (f32 or f16-bits cache), head_dim <= 1024:
// out = sum_p softmax_p(q . k_p / sqrt(head_dim)) v_p; scores: n_pos floats
// of scratch.
inline void attention_head(const float* q, const float* keys, const float* values, size_t n_pos,
                           size_t stride, size_t head_dim, float* scores, float* out) {
  HWY_DYNAMIC_DISPATCH(AttentionHeadF32)(q, keys, values, n_pos, stride, head_dim, scores, out);
}
inline void attention_head(const float* q, const uint16_t* keys, const uint16_t* values, size_t n_pos,
                           size_t stride, size_t head_dim, float* scores, float* out) {
  HWY_DYNAMIC_DISPATCH(AttentionHeadF16)(q, keys, values, n_pos, stride, head_dim, scores, out);
}

}  // namespace

namespace static_target {

inline void rmsnorm(const float* x, const float* w, float* out, size_t n, float eps) {
  HWY_STATIC_DISPATCH(RmsNorm)(x, w, out, n, eps);
}
inline void rope_adjacent(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                          const float* sin_t) {
  HWY_STATIC_DISPATCH(RopeAdjacent)(x, n_heads, head_dim, cos_t, sin_t);
}
inline void rope_neox(float* x, size_t n_heads, size_t head_dim, const float* cos_t,
                      const float* sin_t) {
  HWY_STATIC_DISPATCH(RopeNeox)(x, n_heads, head_dim, cos_t, sin_t);
}
inline void swiglu(float* gate, const float* up, size_t n) { HWY_STATIC_DISPATCH(SwiGlu)(gate, up, n); }
inline void relu2_gate(float* gate, const float* up, size_t n) { HWY_STATIC_DISPATCH(Relu2Gate)(gate, up, n); }
inline void add_inplace(float* x, const float* y, size_t n) { HWY_STATIC_DISPATCH(AddInplace)(x, y, n); }
inline void softmax(float* x, size_t n) { HWY_STATIC_DISPATCH(Softmax)(x, n); }
inline void quantize_row_q8_k(const float* x, BlockQ8_K* y, size_t n) {
  HWY_STATIC_DISPATCH(QuantizeRowQ8K)(x, y, n);
}
inline I8Activation quantize_row_i8_s(const float* x, int8_t* q, size_t n) {
  return HWY_STATIC_DISPATCH(QuantizeRowI8S)(x, q, n);
}
inline void attention_head(const float* q, const float* keys, const float* values, size_t n_pos,
                           size_t stride, size_t head_dim, float* scores, float* out) {
  HWY_STATIC_DISPATCH(AttentionHeadF32)(q, keys, values, n_pos, stride, head_dim, scores, out);
}
inline void attention_head(const float* q, const uint16_t* keys, const uint16_t* values, size_t n_pos,
                           size_t stride, size_t head_dim, float* scores, float* out) {
  HWY_STATIC_DISPATCH(AttentionHeadF16)(q, keys, values, n_pos, stride, head_dim, scores, out);
}

}  // namespace static_target
}  // namespace trix::cpu::ops
