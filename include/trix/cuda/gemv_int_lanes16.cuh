// CUDA GEMV y = W x for kernels whose contract is an exact integer dot per
// row followed by one float epilogue (I2_S x I8_S: vec_dot_i2_s_i8's
// float(isum) / act_scale): 16 consecutive threads own one row, each sums
// its lane's integer products with the kernel's device body, the 16 sums
// add up exactly (integer xor shuffles, any order gives the same int), and
// lane 0 applies the body's epilogue.
//
// Body: a type with `static __host__ __device__ int lane_isum(const uint8_t*
// w_row, const uint8_t* x, uint32_t k, uint32_t lane)` and `static float
// finish(int isum, const uint8_t* x, uint32_t k)` (trix-gen emits it).
// Written in trix/cuda/device.h's dialect (nvcc and the CPU emulator).
#pragma once

#include <cstdint>

#include "trix/cuda/device.h"
#include "trix/cuda/gemv_rows.cuh"
#include "trix/kernels/gemv_args.h"

namespace trix::cuda {

template <class Config, class Body>
__global__ void __launch_bounds__(Config::kThreadsPerBlock) gemv_int_lanes16_kernel(GemvArgs args) {
  static_assert(Config::kLanesPerRow == 16, "16 lanes per row");
  const GemvThread t = gemv_thread<Config>();
  const auto* x = static_cast<const uint8_t*>(args.x);
  const auto k = static_cast<uint32_t>(args.k);
  int s = 0;  // threads past the last row add 0 and write nothing
  if (t.row < args.rows) s = Body::lane_isum(static_cast<const uint8_t*>(args.w) + t.row * args.w_row_bytes, x, k, t.lane);
  for (int m = 8; m != 0; m >>= 1) s += __shfl_xor_sync(0xffffffffu, s, m, 16);
  if (t.lane == 0 && t.row < args.rows) args.y[t.row] = Body::finish(s, x, k);
}

template <class Config, class Body>
inline cudaError_t launch_gemv_int_lanes16(const GemvArgs& args, cudaStream_t stream) {
  if (args.rows == 0) return cudaSuccess;
  TRIX_CUDA_LAUNCH(gemv_grid_blocks<Config>(args.rows), Config::kThreadsPerBlock, 0, stream,
                   gemv_int_lanes16_kernel<Config, Body>)(args);
  return cudaGetLastError();
}

}  // namespace trix::cuda
