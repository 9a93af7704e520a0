// Thread-pool entry points of the CPU matmul kernels: y = W x for n tokens
// of f32 activations, quantized here (Q8_K for packed TQ2_0/TQ1_0, per-token
// int8 for packed I2_S), with the best kernel for the running CPU
// (HWY_DYNAMIC_DISPATCH). Rows run as stored (Q8_0, Q4_0, K-quants, F16) go
// through trix/runtime/matmul.h's table of row GEMV kernels.
//
// Work split: row groups (4 rows each) in one contiguous range per thread,
// for the GEMV and the GEMM alike (the GEMM tiles tokens inside each group).
// Each output element is computed by exactly one task with the same
// operations whatever the split, so results are bit-identical for any
// thread count, and a GEMM row equals the GEMV of that token.
//
// Uses the declarations of trix/cpu/ops.h and trix/cpu/dispatch.h; the
// kernels themselves are compiled once per program (trix/cpu/implementation.h).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>

#include "trix/cpu/dispatch.h"
#include "trix/cpu/ops.h"  // the quantizers that prepare the activations
#include "trix/cpu/ternary_packed.h"
#include "trix/core/thread_pool.h"
#include "trix/formats/blocks.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q8_k.h"
#include "trix/kernels/gemm_packed_tq2_0_q8_k.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_packed_tq2_0_q8_k.h"

namespace trix::cpu {

// Caller-owned, 64-byte aligned scratch for prepared activations; grows
// only when a larger input than before is seen.
class PackedActScratch {
 public:
  uint8_t* reserve(size_t bytes) {
    if (buf_.size() < bytes) buf_ = HugePageBuffer(bytes);
    return buf_.data();
  }

 private:
  HugePageBuffer buf_;
};

// Splits groups [0, n_groups) into one range per pool thread and calls
// kernel(args, begin, end) on each.
template <class Kernel>
void parallel_groups(ThreadPool& pool, const PackedMatmulArgs& args, Kernel&& kernel) {
  const size_t ng = args.w.n_groups();
  const size_t n_tasks = std::min(pool.num_threads(), ng);
  pool.parallel_for(n_tasks, [&](size_t task, size_t) {
    const auto [b, e] = ThreadPool::chunk(ng, n_tasks, task);
    kernel(args, b, e);
  });
}

// Prepares n_tok tokens' activations, stride bytes each, split across the
// pool (each token's bytes depend only on its own floats):
// prepare_token(t, tmp, out) writes token t to out, with tmp_bytes of
// per-task scratch at tmp. Returns the first token's bytes.
template <class PrepareToken>
const uint8_t* prepare_acts(ThreadPool& pool, size_t n_tok, size_t stride, size_t tmp_bytes,
                            PackedActScratch& scratch, const PrepareToken& prepare_token) {
  const size_t n_tasks = std::min(pool.num_threads(), n_tok);
  uint8_t* base = scratch.reserve(stride * n_tok + tmp_bytes * n_tasks);
  pool.parallel_for(n_tasks, [&](size_t task, size_t) {
    uint8_t* tmp = base + stride * n_tok + tmp_bytes * task;
    const auto [b, e] = ThreadPool::chunk(n_tok, n_tasks, task);
    for (size_t t = b; t < e; ++t) prepare_token(t, tmp, base + t * stride);
  });
  return base;
}

// Runs the packed GEMV (one token) or GEMM (several) over prepared
// activations, row groups split across the pool.
using PackedKernel = void (*)(const PackedMatmulArgs&, size_t begin, size_t end);
template <PackedKernel kGemv, PackedKernel kGemm>
void run_packed(ThreadPool& pool, const PackedTernaryView& w, const uint8_t* acts, size_t act_stride,
                size_t n_tok, float* y, size_t y_stride) {
  PackedMatmulArgs a;
  a.w = w;
  a.acts = acts;
  a.act_stride = act_stride;
  a.n_tok = n_tok;
  a.y = y;
  a.y_stride = y_stride;
  if (n_tok == 1) {
    parallel_groups(pool, a, [](const PackedMatmulArgs& args, size_t b, size_t e) { kGemv(args, b, e); });
  } else {
    parallel_groups(pool, a, [](const PackedMatmulArgs& args, size_t b, size_t e) { kGemm(args, b, e); });
  }
}

// y[t * y_stride + r] = sum_c W[r][c] x[t][c] for packed TQ2_0 or TQ1_0
// weights (format says which: TQ1_0 was decoded to TQ2_0 codes by
// prepare_weight, so both run the TQ2_0 packed4 kernels, whose specs list
// TQ1_0 in prepared_from), with Q8_K activations (quantize_row_q8_k's bytes,
// then prepared): the lanes16 contract per (row, token).
inline void packed_matmul_q8_k(ThreadPool& pool, const PackedTernaryView& w, FormatId format,
                               const float* x, size_t n_tok, float* y, size_t y_stride,
                               PackedActScratch& scratch) {
  static_assert(kernels::gemv_packed_tq2_0_q8_k::kSourceFormats ==
                kernels::gemm_packed_tq2_0_q8_k::kSourceFormats);
  assert(std::ranges::count(kernels::gemv_packed_tq2_0_q8_k::kSourceFormats, format) == 1);
  (void)format;
  const size_t nb = w.n_blocks;
  const size_t stride = prepared_act_bytes(nb);
  const uint8_t* acts = prepare_acts(pool, n_tok, stride, round_up_64(nb * sizeof(BlockQ8_K)), scratch,
                                     [&](size_t t, uint8_t* tmp, uint8_t* out) {
                                       auto* q8 = reinterpret_cast<BlockQ8_K*>(tmp);
                                       ops::quantize_row_q8_k(x + t * w.cols, q8, w.cols);
                                       prepare_act_q8_k(q8, nb, out);
                                     });
  run_packed<gemv_packed_tq2_0_q8_k, gemm_packed_tq2_0_q8_k>(pool, w, acts, stride, n_tok, y, y_stride);
}

// y[t * y_stride + r] for packed I2_S weights with bitnet.cpp's per-token
// int8 activations (quantize_row_i8_s's codes, then prepared, scale in slot
// 0): per (row, token) float(isum) / act_scale * w.tensor_scale,
// vec_dot_i2_s_i8's contract.
inline void packed_matmul_i8_s(ThreadPool& pool, const PackedTernaryView& w, const float* x, size_t n_tok,
                               float* y, size_t y_stride, PackedActScratch& scratch) {
  const size_t stride = prepared_act_bytes(w.n_blocks);
  const uint8_t* acts = prepare_acts(pool, n_tok, stride, round_up_64(w.cols), scratch,
                                     [&](size_t t, uint8_t* tmp, uint8_t* out) {
                                       auto* q = reinterpret_cast<int8_t*>(tmp);
                                       const float s = ops::quantize_row_i8_s(x + t * w.cols, q, w.cols).scale;
                                       prepare_act_i8(q, w.cols, s, out);
                                     });
  run_packed<gemv_packed_i2_s_i8_s, gemm_packed_i2_s_i8_s>(pool, w, acts, stride, n_tok, y, y_stride);
}

// ------------------------------------------------------------ rows as stored

// Rows [0, rows) of one GEMV split into one contiguous range per pool
// thread, aligned to row_step (the kernel spec's rows_per_step, or 1 for a
// kernel that computes one row at a time), so the kernel's row steps are
// the same whatever the split.
template <class Kernel>
void parallel_rows(ThreadPool& pool, const GemvArgs& args, size_t row_step, Kernel&& kernel) {
  assert(row_step >= 1);
  const size_t n_steps = (args.rows + row_step - 1) / row_step;
  const size_t n_tasks = std::min(pool.num_threads(), n_steps);
  pool.parallel_for(n_tasks, [&](size_t task, size_t) {
    const auto [b, e] = ThreadPool::chunk(n_steps, n_tasks, task);
    kernel(args, row_step * b, std::min<size_t>(row_step * e, args.rows));
  });
}

}  // namespace trix::cpu
