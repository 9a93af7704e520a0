// Thread-pool entry points of the packed4 ternary kernels: y = W x for n
// tokens of f32 activations, quantized here (Q8_K for TQ2_0/TQ1_0), with
// the best kernel for the running CPU (HWY_DYNAMIC_DISPATCH).
//
// Work split: row groups (4 rows each) in one contiguous range per thread,
// for the GEMV and the GEMM alike (the GEMM tiles tokens inside each group).
// Each output element is computed by exactly one task with the same
// operations whatever the split, so results are bit-identical for any
// thread count, and a GEMM row equals the GEMV of that token.
//
// Includes the generated dispatch tables: do not include this from a file
// that itself includes hwy/foreach_target.h.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "trix/cpu/dispatch.h"
#include "trix/cpu/ternary_packed.h"
#include "trix/cpu/thread_pool.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q8_k.h"

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

// Quantizes n_tok tokens (x: n_tok x w.cols floats) to Q8_K and prepares
// them; returns the prepared bytes' stride. Tokens are split across the
// pool (each token's bytes depend only on its own floats).
inline size_t prepare_acts_q8_k(ThreadPool& pool, const PackedTernaryView& w, const float* x,
                                size_t n_tok, PackedActScratch& scratch, const uint8_t** out) {
  const size_t nb = w.n_blocks;
  const size_t stride = prepared_act_bytes(nb);
  const size_t q8_bytes = round_up_64(nb * sizeof(BlockQ8_K));
  const size_t n_tasks = std::min(pool.num_threads(), n_tok);
  uint8_t* base = scratch.reserve(stride * n_tok + q8_bytes * n_tasks);
  pool.parallel_for(n_tasks, [&](size_t task, size_t) {
    auto* q8 = reinterpret_cast<BlockQ8_K*>(base + stride * n_tok + q8_bytes * task);
    const auto [b, e] = ThreadPool::chunk(n_tok, n_tasks, task);
    for (size_t t = b; t < e; ++t) {
      quantize_row_q8_k(x + t * w.cols, q8, w.cols);
      prepare_act_q8_k(q8, nb, base + t * stride);
    }
  });
  *out = base;
  return stride;
}

// y[t * y_stride + r] = sum_c W[r][c] x[t][c] for packed TQ2_0 or TQ1_0
// weights (format says which; both run the same kernel on packed4), with
// Q8_K activations: the lanes16 contract per (row, token).
inline void packed_matmul_q8_k(ThreadPool& pool, const PackedTernaryView& w, FormatId format,
                               const float* x, size_t n_tok, float* y, size_t y_stride,
                               PackedActScratch& scratch) {
  PackedMatmulArgs a;
  a.w = w;
  a.act_stride = prepare_acts_q8_k(pool, w, x, n_tok, scratch, &a.acts);
  a.n_tok = n_tok;
  a.y = y;
  a.y_stride = y_stride;
  const bool tq1 = format == FormatId::TQ1_0;
  if (n_tok == 1) {
    parallel_groups(pool, a, [tq1](const PackedMatmulArgs& args, size_t b, size_t e) {
      if (tq1) {
        gemv_packed_tq1_0_q8_k(args, b, e);
      } else {
        gemv_packed_tq2_0_q8_k(args, b, e);
      }
    });
  } else {
    parallel_groups(pool, a, [tq1](const PackedMatmulArgs& args, size_t b, size_t e) {
      if (tq1) {
        gemm_packed_tq1_0_q8_k(args, b, e);
      } else {
        gemm_packed_tq2_0_q8_k(args, b, e);
      }
    });
  }
}

}  // namespace trix::cpu
