// The matrix product every projection of the decoder goes through: weights
// prepared once at load time (PreparedWeight, per the format's traits:
// ternary formats repacked to packed4, K-quant rows copied into huge pages)
// and run on the fast CPU kernels, falling back to the scalar references of
// trix/runtime/reference_ops.h for formats without one. The embedding row
// lookup is in trix/runtime/embedding.h (included here).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "trix/core/fp16.h"
#include "trix/core/huge_page_buffer.h"
#include "trix/core/thread_pool.h"
#include "trix/cpu/ops.h"
#include "trix/cpu/packed_matmul.h"
#include "trix/cpu/ternary_packed.h"
#include "trix/formats/blocks.h"
#include "trix/formats/traits.h"
#include "trix/runtime/embedding.h"
#include "trix/runtime/reference_ops.h"
#include "trix/runtime/weights.h"
namespace trix {

// ------------------------------------------------------------------ prepared weights

// A weight matrix prepared once at load time for the fast CPU kernels:
// TQ2_0, TQ1_0 and I2_S are repacked to packed4 (trix/cpu/ternary_packed.h,
// +3% / +26% / +0% memory, huge pages); Q6_K, Q5_K and Q4_K rows are copied
// into huge pages; the formats with a row GEMV kernel (Q8_0, Q4_0, Q6_K,
// Q5_K, Q4_K, F16: cpu::kRowGemvKernels) run it on the rows as stored;
// every other format keeps the reference-speed path.
// `view` stays valid for embedding_row and formats without a packed form;
// the packed copy does not refer to it.
struct PreparedWeight {
  WeightView view;
  std::shared_ptr<const cpu::PackedTernary> packed;  // null: not repacked
  // K-quant rows copied as they are into huge pages (null: read `view`). The
  // output projection streams once per decoded token: from a GGUF
  // mapping's 4 KiB pages the stream ran ~40% slower (the prefetchers stop
  // at page boundaries, and every 4 KiB costs a TLB miss). Costs the
  // matrix's size once more in memory (269 MB for BitNet-2B-4T's tied
  // output), as the ternary repack does.
  std::shared_ptr<const HugePageBuffer> rows;
  const void* row_data() const { return rows ? rows->data() : view.data; }
};

// Called with bytes of a weight that have been copied (repacked or moved to
// huge pages) and are no longer read from where they were; the GGUF loader
// drops them from the process (GgufReader::release_pages), so that resident
// memory holds one copy of each weight, not the file's and the prepared one.
// prepare_model may call it from several threads at once.
using ReleaseSource = std::function<void(const void* data, size_t bytes)>;

// Readies `w` as its format's traits say (FormatTraits::prepare): packed4
// repack (TQ2_0, TQ1_0, I2_S: the formats a packed4 kernel spec consumes),
// huge-page copy of the rows (Q6_K, Q5_K, Q4_K), or nothing; hands what it
// copied to `release` (the huge-page copy in 16 MiB steps, so the file's
// pages and the copy of a 269 MB output matrix are never both resident).
// Precondition: validated shapes (row_bytes() > 0).
inline PreparedWeight prepare_weight(const WeightView& w, const ReleaseSource& release = {}) {
  PreparedWeight p;
  p.view = w;
  const auto rows = static_cast<size_t>(w.rows), cols = static_cast<size_t>(w.cols);
  const auto row_bytes = static_cast<size_t>(w.row_bytes());
  switch (format_traits(w.format).prepare) {
    case Prepare::Packed4:
      // I2_S: tensor scale 1 in the packed view; w.view.scale is applied
      // afterwards, as the reference path does (same bits).
      p.packed = std::make_shared<const cpu::PackedTernary>(cpu::pack_packed4(w.format, w.data, rows, cols, row_bytes));
      if (release) release(w.data, rows * row_bytes);
      break;
    case Prepare::HugePageCopy: {
      auto copy = std::make_shared<HugePageBuffer>(rows * row_bytes);
      constexpr size_t kStep = size_t{16} << 20;
      const auto* src = static_cast<const uint8_t*>(w.data);
      for (size_t off = 0; off < rows * row_bytes; off += kStep) {
        const size_t n = std::min(kStep, rows * row_bytes - off);
        std::memcpy(copy->data() + off, src + off, n);
        if (release) release(src + off, n);
      }
      p.rows = std::move(copy);
      break;
    }
    case Prepare::None:
      break;
  }
  return p;
}

namespace detail {

// The row GEMV kernel of weight format f (cpu::kRowGemvKernels, one per
// kernel spec running rows as stored), or nullptr.
constexpr const cpu::RowGemvKernel* row_gemv_kernel(FormatId f) {
  for (const cpu::RowGemvKernel& k : cpu::kRowGemvKernels) {
    if (k.weights == f) return &k;
  }
  return nullptr;
}

// y[t * rows + r] for rows as stored (row_data) on their row GEMV kernel:
// x quantized per token to the kernel's activation format (the format's
// activation quantizer; Q8_K through the Highway quantizer, the same bytes;
// F32 read as is), then the kernel: rows split across the pool in the
// kernel's row steps, and each thread's rows run in tiles of about
// kRowTileBytes, every token per tile, so that a batch of tokens reads the
// weights from memory once (a tile stays in L2 across the tokens) instead of
// once per token. Which (row, token) products are computed, and how, does
// not depend on the tiling (the kernel's row steps are the same whatever the
// range), so the result is the same bits for any n_tok and thread count.
inline void row_gemv_matmul(ThreadPool& pool, const cpu::RowGemvKernel& kernel, const WeightView& w,
                            const void* row_data, const float* x, size_t n_tok, float* y,
                            cpu::PackedActScratch& scratch) {
  const auto rows = static_cast<size_t>(w.rows), cols = static_cast<size_t>(w.cols);
  const uint8_t* acts = reinterpret_cast<const uint8_t*>(x);
  size_t stride = cols * sizeof(float);
  if (kernel.activations != FormatId::F32) {
    const FormatTraits& act = format_traits(kernel.activations);
    stride = cpu::round_up_64(static_cast<size_t>(format_nbytes(act, cols)));
    uint8_t* base = scratch.reserve(stride * n_tok);
    for (size_t t = 0; t < n_tok; ++t) {
      if (kernel.activations == FormatId::Q8_K) {
        cpu::ops::quantize_row_q8_k(x + t * cols, reinterpret_cast<BlockQ8_K*>(base + t * stride), cols);
      } else {
        act.quantize_activations(x + t * cols, base + t * stride, cols);
      }
    }
    acts = base;
  }
  if (n_tok == 1) {
    const GemvArgs args{row_data, static_cast<uint64_t>(w.row_bytes()), acts, cols, y, rows};
    cpu::parallel_rows(pool, args, kernel.rows_per_step, kernel.run);
    return;
  }
  constexpr size_t kRowTileBytes = size_t{128} << 10;
  const size_t step = kernel.rows_per_step;
  const size_t tile_steps = std::max<size_t>(1, kRowTileBytes / (static_cast<size_t>(w.row_bytes()) * step));
  const GemvArgs all{row_data, static_cast<uint64_t>(w.row_bytes()), acts, cols, y, rows};
  cpu::parallel_rows(pool, all, step, [&](const GemvArgs&, size_t begin, size_t end) {
    for (size_t r0 = begin; r0 < end; r0 += tile_steps * step) {
      const size_t r1 = std::min(end, r0 + tile_steps * step);
      for (size_t t = 0; t < n_tok; ++t) {
        const GemvArgs args{row_data, static_cast<uint64_t>(w.row_bytes()), acts + t * stride, cols,
                            y + t * rows, rows};
        kernel.run(args, r0, r1);
      }
    }
  });
}

}  // namespace detail

// Scratch of the prepared-weights path (quantized and prepared activations).
struct PreparedScratch {
  cpu::PackedActScratch acts;
  ref::MatvecScratch reference;  // formats without a fast kernel
};

// y = W x for n_tok tokens, as matmul(WeightView) but on the fast kernels
// where `w` has one, each times w.view.scale afterwards. Contracts:
//  - TQ2_0/TQ1_0 (packed) x Q8_K: the lanes16 order of
//    trix/kernels/gemv_tq2_0_q8_k.body.h (bit-identical to
//    gemv_tq2_0_q8_k_ref / gemv_tq1_0_q8_k_ref, the CUDA and Metal kernels);
//    not the single-accumulator order of vec_dot_tq2_0_q8_k, which the
//    unprepared path keeps;
//  - I2_S (packed) x per-token int8: vec_dot_i2_s_i8, the same bits as the
//    unprepared path;
//  - Q8_0 / Q4_0 x Q8_0: vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0, the same
//    bits as the unprepared path;
//  - Q6_K / Q4_K / Q5_K x Q8_K: the q6k / q4k / q5k lanes16 orders of
//    trix/kernels/gemv_q{6,4,5}_k_q8_k_ref.h (the same integer block sums as
//    vec_dot_q{6,4,5}_k_q8_k, which the unprepared path keeps; close, not the
//    same bits);
//  - F16 x F32: the lanes16 fma order of trix/kernels/gemv_f16_f32_ref.h
//    (the unprepared path sums in 8 unfused lanes: close, not the same bits).
// Every format with a row GEMV kernel spec (cpu::kRowGemvKernels) runs on
// it; the rest (Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, BF16, ...) on the reference
// path of trix/runtime/reference_ops.h (their vec_dot per row and token).
// Bit-identical for any thread count and equal to n_tok separate matvec calls.
inline void matmul(const PreparedWeight& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool,
                   PreparedScratch& scratch) {
  const auto rows = static_cast<size_t>(w.view.rows);
  const auto nt = static_cast<size_t>(n_tok);
  if (w.packed && w.view.format == FormatId::I2_S) {
    cpu::packed_matmul_i8_s(pool, w.packed->view(), x, nt, y, rows, scratch.acts);
  } else if (w.packed) {
    cpu::packed_matmul_q8_k(pool, w.packed->view(), w.view.format, x, nt, y, rows, scratch.acts);
  } else if (const cpu::RowGemvKernel* kernel = detail::row_gemv_kernel(w.view.format)) {
    detail::row_gemv_matmul(pool, *kernel, w.view, w.row_data(), x, nt, y, scratch.acts);
  } else {
    ref::matmul(w.view, x, n_tok, y, pool, scratch.reference);
    return;
  }
  if (w.view.scale != 1.0f) {
    for (size_t i = 0; i < rows * nt; ++i) y[i] *= w.view.scale;
  }
}

inline void matvec(const PreparedWeight& w, const float* x, float* y, ThreadPool& pool,
                   PreparedScratch& scratch) {
  matmul(w, x, 1, y, pool, scratch);
}


}  // namespace trix
