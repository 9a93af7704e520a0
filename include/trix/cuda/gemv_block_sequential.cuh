// CUDA GEMV y = W x for kernels whose contract is a block-sequential fma
// chain per row (Q8_0 x Q8_0: vec_dot_q8_0_q8_0's acc = fma(float(isum_b),
// d_w * d_a, acc) over the blocks in order). One warp per row: for each run
// of 32 blocks, thread j computes block base + j's exact integer sum and
// scale product with the kernel's device body, then every thread runs the
// chain over the run in block order, the terms broadcast by shuffles (all
// threads compute the same bits; lane 0 writes). The integer work is spread
// over the warp; only the 1-fma-per-block chain is serial, as the contract
// requires.
//
// Body: a type with `static __host__ __device__ int block_isum(const uint8_t*
// w_row, const uint8_t* x, uint32_t b)` and `static float block_scale(...)`
// (trix-gen emits it). Body::kBlockElements: elements per weight block.
// Written in trix/cuda/device.h's dialect (nvcc and the CPU emulator).
#pragma once

#include <cmath>
#include <cstdint>

#include "trix/cuda/device.h"
#include "trix/cuda/gemv_rows.cuh"
#include "trix/kernels/gemv_args.h"

namespace trix::cuda {

template <class Config, class Body>
__global__ void __launch_bounds__(Config::kThreadsPerBlock) gemv_block_sequential_kernel(GemvArgs args) {
  static_assert(Config::kLanesPerRow == 32, "one warp per row");
  const GemvThread t = gemv_thread<Config>();
  if (t.row >= args.rows) return;  // the whole warp: a row is one warp
  const auto* w_row = static_cast<const uint8_t*>(args.w) + t.row * args.w_row_bytes;
  const auto* x = static_cast<const uint8_t*>(args.x);
  const auto n_blocks = static_cast<uint32_t>(args.k / Body::kBlockElements);
  float acc = 0.0f;
  for (uint32_t base = 0; base < n_blocks; base += 32) {
    const uint32_t b = base + t.lane;
    const int isum = b < n_blocks ? Body::block_isum(w_row, x, b) : 0;
    const float scale = b < n_blocks ? Body::block_scale(w_row, x, b) : 0.0f;
    const uint32_t count = n_blocks - base < 32 ? n_blocks - base : 32;
    for (uint32_t j = 0; j < count; ++j) {
      const int isum_j = __shfl_sync(0xffffffffu, isum, static_cast<int>(j));
      const float scale_j = __shfl_sync(0xffffffffu, scale, static_cast<int>(j));
      acc = fmaf(static_cast<float>(isum_j), scale_j, acc);
    }
  }
  if (t.lane == 0) args.y[t.row] = acc;
}

template <class Config, class Body>
inline cudaError_t launch_gemv_block_sequential(const GemvArgs& args, cudaStream_t stream) {
  if (args.rows == 0) return cudaSuccess;
  TRIX_CUDA_LAUNCH(gemv_grid_blocks<Config>(args.rows), Config::kThreadsPerBlock, 0, stream,
                   gemv_block_sequential_kernel<Config, Body>)(args);
  return cudaGetLastError();
}

}  // namespace trix::cuda
