// CUDA GEMV y = W x for every kernel on a lanes16 contract (TQ2_0, F16, Q4_K,
// Q6_K, ...): 16 consecutive threads own one row, thread t of the 16 computes
// lane t's accumulator with the kernel's shared device body, then the
// contract's butterfly (v[l] + v[l ^ m], m = 8, 4, 2, 1) runs as xor shuffles
// within 16-lane segments, so every backend gives the same bits.
//
// Body: a type with `static __host__ __device__ float lane(const uint8_t*
// w_row, const uint8_t* x, uint32_t k, uint32_t lane)` (trix-gen emits one per
// kernel spec, calling the body's lane function). Written in trix/cuda/
// device.h's dialect: nvcc compiles it for the GPU, the host compiler for the
// CPU emulator that tests launch it on.
#pragma once

#include <cstdint>

#include "trix/cuda/device.h"
#include "trix/cuda/gemv_rows.cuh"
#include "trix/kernels/gemv_args.h"

namespace trix::cuda {

template <class Config, class Body>
__global__ void __launch_bounds__(Config::kThreadsPerBlock) gemv_lanes16_kernel(GemvArgs args) {
  static_assert(Config::kLanesPerRow == 16, "the lanes16 contract has 16 lanes per row");
  const GemvThread t = gemv_thread<Config>();
  // Threads past the last row still take part in the shuffles (the mask is
  // the whole warp) with a zero partial, and write nothing.
  float v = 0.0f;
  if (t.row < args.rows) {
    const auto* w_row = static_cast<const uint8_t*>(args.w) + t.row * args.w_row_bytes;
    v = Body::lane(w_row, static_cast<const uint8_t*>(args.x), static_cast<uint32_t>(args.k), t.lane);
  }
  for (int m = 8; m != 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m, 16);
  if (t.lane == 0 && t.row < args.rows) args.y[t.row] = v;
}

template <class Config, class Body>
inline cudaError_t launch_gemv_lanes16(const GemvArgs& args, cudaStream_t stream) {
  if (args.rows == 0) return cudaSuccess;
  TRIX_CUDA_LAUNCH(gemv_grid_blocks<Config>(args.rows), Config::kThreadsPerBlock, 0, stream,
                   gemv_lanes16_kernel<Config, Body>)(args);
  return cudaGetLastError();
}

}  // namespace trix::cuda
