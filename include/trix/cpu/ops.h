// The decoder's small ops (and one head's attention), vectorised with
// Highway (bodies and contracts in trix/cpu/ops-inl.h), with dynamic dispatch
// to the best target of the running CPU: trix::cpu::ops::rmsnorm, ... The
// namespace `ops` keeps these names (quantize_row_q8_k, softmax, ...) from
// colliding, through argument-dependent lookup, with the scalar ones in
// namespace trix when code in trix::cpu calls those unqualified.
//
// Declarations only (no Highway here): the definitions, and the one
// per-target compilation of every kernel, live in trix/cpu/implementation.h,
// compiled once per program (the trix::trix CMake target links it; without
// CMake, compile include/trix/cpu/implementation.cc once). Static dispatch
// to the one target a translation unit is compiled for (-march) is opt-in:
// trix/cpu/static_ops.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trix/formats/blocks.h"
#include "trix/formats/i2_s.h"

namespace trix::cpu::ops {

// out = x / sqrt(mean(x^2) + eps) * w; out may alias x.
void rmsnorm(const float* x, const float* w, float* out, size_t n, float eps);
// RoPE over n_heads vectors of head_dim with a rope_table (head_dim / 2
// cos and sin values): pairs (2i, 2i+1).
void rope_adjacent(float* x, size_t n_heads, size_t head_dim, const float* cos_t, const float* sin_t);
// The same with pairs (i, i + head_dim / 2) (NeoX, BitNet).
void rope_neox(float* x, size_t n_heads, size_t head_dim, const float* cos_t, const float* sin_t);
// gate = silu(gate) * up.
void swiglu(float* gate, const float* up, size_t n);
// gate = relu(gate)^2 * up.
void relu2_gate(float* gate, const float* up, size_t n);
// x += y.
void add_inplace(float* x, const float* y, size_t n);
// In-place softmax, n >= 1.
void softmax(float* x, size_t n);
// Same bytes as trix::quantize_row_q8_k; n % 256 == 0 (asserted).
void quantize_row_q8_k(const float* x, BlockQ8_K* y, size_t n);
// Same codes, scale and sum as trix::quantize_row_i8_s.
I8Activation quantize_row_i8_s(const float* x, int8_t* q, size_t n);

// Causal attention of one query head over n_pos >= 1 cache positions
// `stride` elements apart (f32 or f16-bits cache), head_dim <= 1024:
// out = sum_p softmax_p(q . k_p / sqrt(head_dim)) v_p; scores: n_pos floats
// of scratch.
void attention_head(const float* q, const float* keys, const float* values, size_t n_pos, size_t stride,
                    size_t head_dim, float* scores, float* out);
void attention_head(const float* q, const uint16_t* keys, const uint16_t* values, size_t n_pos, size_t stride,
                    size_t head_dim, float* scores, float* out);

// TriX sparse-lookup FFN (bodies in trix/cpu/sparse_lookup-inl.h):
// out = (x - mean) / sqrt(var + eps) * w + b (PyTorch LayerNorm); out may alias x.
void layernorm(const float* x, const float* w, const float* b, float* out, size_t n, float eps);
// scores[r] = x . s_r over n_rows ternary signatures packed 2 bits per
// element (trix/runtime/sparse_lookup.h), rows words_per_row uint32 apart.
void ternary_signature_scores(const float* x, const uint32_t* sigs, size_t words_per_row, size_t n_rows,
                              size_t n, float* scores);
// y += alpha * x.
void axpy(float alpha, const float* x, float* y, size_t n);

}  // namespace trix::cpu::ops

// Every op above as X(return type, name, Highway body in trix/cpu/ops-inl.h,
// (parameters), (arguments)): what trix/cpu/implementation.h and
// trix/cpu/static_ops.h define the entry points from.
#define TRIX_CPU_OPS(X)                                                                                    \
  X(void, rmsnorm, RmsNorm, (const float* x, const float* w, float* out, size_t n, float eps),             \
    (x, w, out, n, eps))                                                                                   \
  X(void, rope_adjacent, RopeAdjacent,                                                                     \
    (float* x, size_t n_heads, size_t head_dim, const float* cos_t, const float* sin_t),                   \
    (x, n_heads, head_dim, cos_t, sin_t))                                                                  \
  X(void, rope_neox, RopeNeox,                                                                             \
    (float* x, size_t n_heads, size_t head_dim, const float* cos_t, const float* sin_t),                   \
    (x, n_heads, head_dim, cos_t, sin_t))                                                                  \
  X(void, swiglu, SwiGlu, (float* gate, const float* up, size_t n), (gate, up, n))                         \
  X(void, relu2_gate, Relu2Gate, (float* gate, const float* up, size_t n), (gate, up, n))                  \
  X(void, add_inplace, AddInplace, (float* x, const float* y, size_t n), (x, y, n))                        \
  X(void, softmax, Softmax, (float* x, size_t n), (x, n))                                                  \
  X(void, quantize_row_q8_k, QuantizeRowQ8K, (const float* x, BlockQ8_K* y, size_t n), (x, y, n))          \
  X(I8Activation, quantize_row_i8_s, QuantizeRowI8S, (const float* x, int8_t* q, size_t n), (x, q, n))     \
  X(void, attention_head, AttentionHeadF32,                                                                \
    (const float* q, const float* keys, const float* values, size_t n_pos, size_t stride, size_t head_dim, \
     float* scores, float* out),                                                                           \
    (q, keys, values, n_pos, stride, head_dim, scores, out))                                               \
  X(void, attention_head, AttentionHeadF16,                                                                \
    (const float* q, const uint16_t* keys, const uint16_t* values, size_t n_pos, size_t stride,            \
     size_t head_dim, float* scores, float* out),                                                          \
    (q, keys, values, n_pos, stride, head_dim, scores, out))                                               \
  X(void, layernorm, LayerNorm, (const float* x, const float* w, const float* b, float* out, size_t n,      \
                                  float eps),                                                              \
    (x, w, b, out, n, eps))                                                                                \
  X(void, ternary_signature_scores, TernarySignatureScores,                                                \
    (const float* x, const uint32_t* sigs, size_t words_per_row, size_t n_rows, size_t n, float* scores),  \
    (x, sigs, words_per_row, n_rows, n, scores))                                                           \
  X(void, axpy, Axpy, (float alpha, const float* x, float* y, size_t n), (alpha, x, y, n))
