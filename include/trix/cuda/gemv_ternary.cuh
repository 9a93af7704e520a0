// CUDA ternary GEMV (TQ2_0 x Q8_K) on the lanes16 contract. The per-thread
// work is a plain __host__ __device__ function of an explicit (block, thread)
// index, so tests run it on the CPU over an emulated grid; the kernel adds
// only the warp butterfly (xor shuffles within 16-thread halves).
//
// Mapping: 16 consecutive threads own one row, thread t of the 16 owns lane
// t, so a half-warp reads one block's 64 code bytes as 16 coalesced words.
#pragma once

#include <cmath>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

namespace trix::cuda {

struct LaneTask {
  uint64_t row;
  uint32_t lane;
};

// Which row and lane a thread computes. Threads past the last row still take
// part in the shuffles (with a zero partial) and write nothing.
template <class Config>
TRIX_HD inline LaneTask gemv_lane_task(uint32_t block_idx, uint32_t thread_idx) {
  const uint64_t t = static_cast<uint64_t>(block_idx) * Config::kThreadsPerBlock + thread_idx;
  return {t / 16u, static_cast<uint32_t>(t % 16u)};
}

// The body every thread runs: its lane's accumulator for its row.
template <class Config>
TRIX_HD inline float gemv_tq2_0_q8_k_thread(const GemvArgs& args, uint32_t block_idx,
                                                         uint32_t thread_idx) {
  const LaneTask task = gemv_lane_task<Config>(block_idx, thread_idx);
  if (task.row >= args.rows) return 0.0f;
  const auto* w_row = static_cast<const uint8_t*>(args.w) + task.row * args.w_row_bytes;
  return kernels::tq2_0_q8_k_body::trix_gemv_tq2_0_q8_k_lane(
      w_row, static_cast<const uint8_t*>(args.x), static_cast<uint32_t>(args.k / 256u), task.lane);
}

template <class Config>
constexpr uint32_t gemv_grid_blocks(uint64_t rows) {
  return static_cast<uint32_t>((rows * 16u + Config::kThreadsPerBlock - 1) / Config::kThreadsPerBlock);
}

#if defined(__CUDACC__)
template <class Config>
__global__ void __launch_bounds__(Config::kThreadsPerBlock) gemv_tq2_0_q8_k_kernel(GemvArgs args) {
  static_assert(Config::kThreadsPerBlock % 32 == 0, "whole warps only");
  float v = gemv_tq2_0_q8_k_thread<Config>(args, blockIdx.x, threadIdx.x);
  // The lanes16 butterfly: v[l] + v[l ^ m] for m = 8, 4, 2, 1.
  for (unsigned m = 8; m != 0; m >>= 1) v += __shfl_xor_sync(0xffffffffu, v, m, 16);
  const LaneTask task = gemv_lane_task<Config>(blockIdx.x, threadIdx.x);
  if (task.lane == 0 && task.row < args.rows) args.y[task.row] = v;
}

template <class Config>
inline cudaError_t launch_gemv_tq2_0_q8_k(const GemvArgs& args, cudaStream_t stream) {
  if (args.rows == 0) return cudaSuccess;
  gemv_tq2_0_q8_k_kernel<Config>
      <<<gemv_grid_blocks<Config>(args.rows), Config::kThreadsPerBlock, 0, stream>>>(args);
  return cudaGetLastError();
}
#endif

}  // namespace trix::cuda
