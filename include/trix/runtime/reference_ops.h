// The scalar references of the decoder (namespace trix::ref): small per-token
// ops (RMSNorm, RoPE, gated activations, softmax, residual add, single-head
// attention) and the matrix product over weights as stored (WeightView),
// with each format's reference vec_dot.
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
#include "trix/formats/i2_s.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"
#include "trix/runtime/config.h"
#include "trix/runtime/rope.h"
#include "trix/runtime/weights.h"
namespace trix {

// Whether matvec/matmul/embedding_row have a path for this weight format.
inline bool matvec_supported(FormatId f) {
  switch (f) {
    case FormatId::F32:
    case FormatId::F16:
    case FormatId::BF16:
    case FormatId::Q8_0:
    case FormatId::TQ1_0:
    case FormatId::TQ2_0:
    case FormatId::I2_S:
    case FormatId::Q4_K:
    case FormatId::Q6_K:
      return true;
    default:
      return false;
  }
}

namespace ref {

// ------------------------------------------------------------------ sums

// Sum of a[i] * b[i] with 8 running partial sums combined pairwise at the end:
// the order is fixed, so the result is the same in every build.
inline float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  }
  for (int l = 0; l < 8; ++l) {
    if (i + l < n) acc[l] += a[i + l] * b[i + l];  // tail: fewer than 8 left
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
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

inline float dot_f16_f32(const uint16_t* w, const float* x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += fp16_to_fp32(w[i + l]) * x[i + l];
  }
  for (int l = 0; l < 8; ++l) {
    if (i + l < n) acc[l] += fp16_to_fp32(w[i + l]) * x[i + l];  // tail: fewer than 8 left
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

inline float dot_bf16_f32(const uint16_t* w, const float* x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += bf16_to_fp32(w[i + l]) * x[i + l];
  }
  for (int l = 0; l < 8; ++l) {
    if (i + l < n) acc[l] += bf16_to_fp32(w[i + l]) * x[i + l];  // tail: fewer than 8 left
  }
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
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

// Quantizes each token's activations into ABlock rows, then runs dot(row, a).
template <class ABlock, class Quantize, class Dot>
void matmul_quantized(const WeightView& w, const float* x, int64_t n_tok, float* y,
                      ThreadPool& pool, MatvecScratch& scratch, Quantize&& quantize, Dot&& dot) {
  const size_t n_blocks = static_cast<size_t>(w.cols) / ABlock::kElements;
  auto* a = static_cast<ABlock*>(scratch.reserve(n_blocks * sizeof(ABlock) * static_cast<size_t>(n_tok)));
  for (int64_t t = 0; t < n_tok; ++t) {
    quantize(x + t * w.cols, a + static_cast<size_t>(t) * n_blocks, static_cast<size_t>(w.cols));
  }
  for_row_ranges(pool, w.rows, [&](int64_t b, int64_t e) {
    matmul_rows(w, b, e, n_tok, y, [&](const void* row, int64_t t) {
      return dot(row, a + static_cast<size_t>(t) * n_blocks, static_cast<size_t>(w.cols));
    });
  });
}


// Weights in a K-quant or ternary block format, activations as Q8_K.
template <class WBlock, class Dot>
void matmul_q8_k(const WeightView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool,
                 MatvecScratch& scratch, Dot dot) {
  matmul_quantized<BlockQ8_K>(
      w, x, n_tok, y, pool, scratch,
      [](const float* in, BlockQ8_K* out, size_t n) { quantize_row_q8_k(in, out, n); },
      [dot](const void* row, const BlockQ8_K* a, size_t n) {
        return dot(static_cast<const WBlock*>(row), a, n);
      });
}

// I2_S weights with bitnet.cpp's per-token int8 activations (one scale per
// token). The tensor scale is applied by matmul_rows as w.scale, after the
// contract's division by the activation scale (w_scale = 1 keeps the bits).
inline void matmul_i2_s(const WeightView& w, const float* x, int64_t n_tok, float* y,
                        ThreadPool& pool, MatvecScratch& scratch) {
  const size_t cols = static_cast<size_t>(w.cols);
  const size_t codes_bytes = (cols * static_cast<size_t>(n_tok) + 63) / 64 * 64;
  auto* base = static_cast<uint8_t*>(
      scratch.reserve(codes_bytes + sizeof(float) * static_cast<size_t>(n_tok)));
  auto* q = reinterpret_cast<int8_t*>(base);
  auto* act_scale = reinterpret_cast<float*>(base + codes_bytes);
  for (int64_t t = 0; t < n_tok; ++t) {
    act_scale[t] = quantize_row_i8_s(x + t * w.cols, q + static_cast<size_t>(t) * cols, cols).scale;
  }
  for_row_ranges(pool, w.rows, [&](int64_t b, int64_t e) {
    matmul_rows(w, b, e, n_tok, y, [&](const void* row, int64_t t) {
      return vec_dot_i2_s_i8(static_cast<const uint8_t*>(row), 1.0f,
                             q + static_cast<size_t>(t) * cols, act_scale[t], cols);
    });
  });
}

}  // namespace detail

// y[t][r] = scale * sum_c W[r][c] * x[t][c] for n_tok tokens: x is n_tok x
// cols (row-major), y is n_tok x rows. Rows are split across the pool; each
// y element is computed by one thread, so results are bit-identical for any
// thread count and equal to n_tok separate matvec calls.
// Formats: F32, F16, BF16 dot against f32 activations (fixed 8-lane order);
// Q8_0 quantizes the activations to Q8_0; TQ1_0, TQ2_0, Q4_K, Q6_K to Q8_K
// (ggml's schemes); I2_S to bitnet.cpp's per-token int8 (quantize_row_i8_s);
// each then uses the formats' reference vec_dot. Precondition: matvec_supported(w.format) and
// validated shapes. These are the reference-speed paths; fast kernels plug in
// here per format.
inline void matmul(const WeightView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool,
                   MatvecScratch& scratch) {
  assert(matvec_supported(w.format) && w.row_bytes() > 0);
  switch (w.format) {
    case FormatId::F32:
      detail::for_row_ranges(pool, w.rows, [&](int64_t b, int64_t e) {
        detail::matmul_rows(w, b, e, n_tok, y, [&](const void* row, int64_t t) {
          return dot_f32(static_cast<const float*>(row), x + t * w.cols, w.cols);
        });
      });
      return;
    case FormatId::F16:
      detail::for_row_ranges(pool, w.rows, [&](int64_t b, int64_t e) {
        detail::matmul_rows(w, b, e, n_tok, y, [&](const void* row, int64_t t) {
          return detail::dot_f16_f32(static_cast<const uint16_t*>(row), x + t * w.cols, w.cols);
        });
      });
      return;
    case FormatId::BF16:
      detail::for_row_ranges(pool, w.rows, [&](int64_t b, int64_t e) {
        detail::matmul_rows(w, b, e, n_tok, y, [&](const void* row, int64_t t) {
          return detail::dot_bf16_f32(static_cast<const uint16_t*>(row), x + t * w.cols, w.cols);
        });
      });
      return;
    case FormatId::Q8_0:
      detail::matmul_quantized<BlockQ8_0>(
          w, x, n_tok, y, pool, scratch,
          [](const float* in, BlockQ8_0* out, size_t n) { quantize_row_q8_0(in, out, n); },
          [](const void* row, const BlockQ8_0* a, size_t n) {
            return vec_dot_q8_0_q8_0(static_cast<const BlockQ8_0*>(row), a, n);
          });
      return;
    case FormatId::TQ1_0:
      detail::matmul_q8_k<BlockTQ1_0>(w, x, n_tok, y, pool, scratch, vec_dot_tq1_0_q8_k);
      return;
    case FormatId::TQ2_0:
      detail::matmul_q8_k<BlockTQ2_0>(w, x, n_tok, y, pool, scratch, vec_dot_tq2_0_q8_k);
      return;
    case FormatId::Q4_K:
      detail::matmul_q8_k<BlockQ4_K>(w, x, n_tok, y, pool, scratch, vec_dot_q4_k_q8_k);
      return;
    case FormatId::Q6_K:
      detail::matmul_q8_k<BlockQ6_K>(w, x, n_tok, y, pool, scratch, vec_dot_q6_k_q8_k);
      return;
    case FormatId::I2_S:
      detail::matmul_i2_s(w, x, n_tok, y, pool, scratch);
      return;
    default:
      assert(false && "matmul: unsupported weight format (check matvec_supported first)");
      return;
  }
}

// y = W x for one token (see matmul).
inline void matvec(const WeightView& w, const float* x, float* y, ThreadPool& pool,
                   MatvecScratch& scratch) {
  matmul(w, x, 1, y, pool, scratch);
}

}  // namespace ref
}  // namespace trix
