// The scalar references of the decoder (namespace trix::ref): small per-token
// ops (RMSNorm, RoPE, gated activations, softmax, residual add, single-head
// attention) and the matrix product over weights as stored (WeightView),
// driven by the formats' traits table (trix/formats/traits.h): activations
// quantized to the format's matmul_activations, then its reference vec_dot.
//
// They are what the Highway ops of trix/cpu/ops.h and the prepared fast path
// of trix/runtime/matmul.h are tested against (bit for bit except where exp
// is involved, or where a kernel contract states another summation order),
// and the path the runtime keeps for formats without a fast kernel (F32,
// BF16). Sums use a fixed 8-lane blocking so their rounding does not depend
// on compiler flags or on the thread count. Accuracy: every op is within a
// few float ulps per element of an fp64 evaluation (tests/runtime/
// ops_test.cc states the tolerances). They do not throw: shapes and formats
// are validated by the caller (validate_weights, matvec_supported) and
// asserted in debug builds.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "trix/core/fp16.h"
#include "trix/core/thread_pool.h"
#include "trix/formats/blocks.h"
#include "trix/formats/f16.h"
#include "trix/formats/traits.h"
#include "trix/runtime/config.h"
#include "trix/runtime/rope.h"
#include "trix/runtime/weights.h"
namespace trix {

// Whether matvec/matmul/embedding_row have a path for this weight format:
// the format's traits name a reference dot (and so a row dequantizer).
inline bool matvec_supported(FormatId f) { return format_traits(f).vec_dot != nullptr; }

namespace ref {

// ------------------------------------------------------------------ sums

// Sum of a[i] * b[i] with 8 running partial sums combined pairwise at the end:
// the order is fixed, so the result is the same in every build (dot8_f32).
inline float dot_f32(const float* a, const float* b, int64_t n) {
  return dot8_f32(a, b, static_cast<size_t>(n));
}

inline float sum_squares_f32(const float* x, int64_t n) { return dot_f32(x, x, n); }

// ------------------------------------------------------------------ small ops

// out = x / sqrt(mean(x^2) + eps) * w. out may alias x.
inline void rmsnorm(const float* x, const float* w, float* out, int64_t n, float eps) {
  const float ss = sum_squares_f32(x, n) / static_cast<float>(n);
  const float scale = 1.0f / std::sqrt(ss + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

// Rotates each of n_heads consecutive head_dim-long vectors of `x` with a
// rope_table. Adjacent pairs elements (2i, 2i+1) (llama2.c, ggml NORM);
// NeoxHalves pairs (i, i + head_dim/2) (ggml NEOX).
inline void rope_apply(float* x, int64_t n_heads, int64_t head_dim, const float* cos_t,
                       const float* sin_t, RopeStyle style) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = style == RopeStyle::Adjacent ? 2 * i : i;
      const int64_t b = style == RopeStyle::Adjacent ? 2 * i + 1 : i + half;
      const float x0 = v[a];
      const float x1 = v[b];
      v[a] = x0 * cos_t[i] - x1 * sin_t[i];
      v[b] = x0 * sin_t[i] + x1 * cos_t[i];
    }
  }
}

// rope_table + rope_apply for one position (head_dim <= 1024).
inline void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t pos, float theta,
                 RopeStyle style) {
  float c[512], s[512];
  assert(head_dim / 2 <= 512);
  rope_table(pos, head_dim, theta, c, s);
  rope_apply(x, n_heads, head_dim, c, s, style);
}

// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
inline void swiglu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

// gate[i] = relu(gate[i])^2 * up[i] (BitNet b1.58's squared-ReLU gate).
inline void relu2_gate(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float r = gate[i] > 0.0f ? gate[i] : 0.0f;
    gate[i] = r * r * up[i];
  }
}

// In-place softmax; the max is subtracted first so no exp overflows.
inline void softmax(float* x, int64_t n) {
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

// x += y.
inline void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

namespace detail {
inline float kv_to_float(float v) { return v; }
inline float kv_to_float(uint16_t v) { return fp16_to_fp32(v); }
}  // namespace detail

// Causal attention of one query head over positions [0, n_pos):
//   out = sum_p softmax_p(q . k_p / sqrt(head_dim)) * v_p
// keys/values point at position 0 of this head's kv head; consecutive
// positions are `stride` elements apart. T is float or uint16_t (f16 bits).
// scores: n_pos floats of scratch.
template <class T>
void attention_head(const float* q, const T* keys, const T* values, int64_t n_pos,
                    int64_t stride, int64_t head_dim, float* scores, float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (int64_t p = 0; p < n_pos; ++p) {
    const T* k = keys + p * stride;
    float s;
    if constexpr (std::is_same_v<T, float>) {
      s = dot_f32(q, k, head_dim);
    } else {  // dot_f32's order over the widened keys
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t i = 0; i < head_dim; ++i) acc[i % 8] += q[i] * detail::kv_to_float(k[i]);
      s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    }
    scores[p] = s * scale;
  }
  softmax(scores, n_pos);
  for (int64_t i = 0; i < head_dim; ++i) out[i] = 0.0f;
  for (int64_t p = 0; p < n_pos; ++p) {
    const T* v = values + p * stride;
    const float a = scores[p];
    for (int64_t i = 0; i < head_dim; ++i) out[i] += a * detail::kv_to_float(v[i]);
  }
}

// Caller-owned scratch for quantized activations, so that matvec allocates
// only when a larger input than before is seen (never in steady state).
struct MatvecScratch {
  std::vector<uint8_t> bytes;
  void* reserve(size_t n) {
    if (bytes.size() < n) bytes.resize(n);
    return bytes.data();
  }
};

namespace detail {

// Rows [begin, end) of y[t] = W x[t] for n_tok tokens whose activations are
// already in the form `dot_row` takes. Looping rows outside and tokens inside
// reads each weight row once per call.
template <class DotRow>
void matmul_rows(const WeightView& w, int64_t begin, int64_t end, int64_t n_tok, float* y,
                 DotRow&& dot_row) {
  for (int64_t r = begin; r < end; ++r) {
    const void* row = w.row(r);
    for (int64_t t = 0; t < n_tok; ++t) y[t * w.rows + r] = dot_row(row, t) * w.scale;
  }
}

// Splits the rows into one contiguous range per pool thread. Each output
// element is computed by exactly one task with the same code, so results do
// not depend on the thread count.
template <class RowsFn>
void for_row_ranges(ThreadPool& pool, int64_t rows, RowsFn&& fn) {
  const size_t n_tasks = std::min<size_t>(pool.num_threads(), static_cast<size_t>(rows));
  pool.parallel_for(n_tasks, [&](size_t task, size_t) {
    const auto [b, e] = ThreadPool::chunk(static_cast<size_t>(rows), n_tasks, task);
    fn(static_cast<int64_t>(b), static_cast<int64_t>(e));
  });
}

}  // namespace detail

// y[t][r] = scale * sum_c W[r][c] * x[t][c] for n_tok tokens: x is n_tok x
// cols (row-major), y is n_tok x rows. Rows are split across the pool; each
// y element is computed by one thread, so results are bit-identical for any
// thread count and equal to n_tok separate matvec calls.
// Per the format's traits: each token's activations are quantized to
// matmul_activations (F32: used as they are; Q8_0 for Q8_0, Q4_0, Q5_0 as
// ggml does and for Q4_1, Q5_1 (ggml: Q8_1; trix/formats/nibble32.h); Q8_K
// for TQ1_0, TQ2_0 and the K-quants as ggml does; I8_S, bitnet.cpp's
// per-token int8, for I2_S), then vec_dot runs per (row, token): the fixed 8-lane float order
// for F32/F16/BF16, each format's reference vec_dot otherwise.
// Precondition: matvec_supported(w.format) and validated shapes. These are
// the reference-speed paths; fast kernels plug in via trix/runtime/matmul.h.
inline void matmul(const WeightView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool,
                   MatvecScratch& scratch) {
  const FormatTraits& wt = format_traits(w.format);
  assert(wt.vec_dot != nullptr && w.row_bytes() > 0);
  const auto cols = static_cast<size_t>(w.cols);
  const uint8_t* acts = reinterpret_cast<const uint8_t*>(x);
  size_t act_stride = cols * sizeof(float);
  if (wt.matmul_activations != FormatId::F32) {
    const FormatTraits& at = format_traits(wt.matmul_activations);
    // Whole 64-byte lines per token: every row starts aligned for its blocks.
    act_stride = (static_cast<size_t>(format_nbytes(at, cols)) + 63) / 64 * 64;
    auto* a = static_cast<uint8_t*>(scratch.reserve(act_stride * static_cast<size_t>(n_tok)));
    for (int64_t t = 0; t < n_tok; ++t) {
      at.quantize_activations(x + t * w.cols, a + static_cast<size_t>(t) * act_stride, cols);
    }
    acts = a;
  }
  detail::for_row_ranges(pool, w.rows, [&](int64_t b, int64_t e) {
    detail::matmul_rows(w, b, e, n_tok, y, [&](const void* row, int64_t t) {
      return wt.vec_dot(row, acts + static_cast<size_t>(t) * act_stride, cols);
    });
  });
}

// y = W x for one token (see matmul).
inline void matvec(const WeightView& w, const float* x, float* y, ThreadPool& pool,
                   MatvecScratch& scratch) {
  matmul(w, x, 1, y, pool, scratch);
}

}  // namespace ref
}  // namespace trix
