// How the CUDA GEMV kernels map threads to rows: Config::kLanesPerRow
// consecutive threads of a block own one row (16 for the lanes16 contracts,
// a whole warp for block-sequential ones), rows in thread order across
// blocks of Config::kThreadsPerBlock. Written in trix/cuda/device.h's dialect.
#pragma once

#include <cstdint>

#include "trix/cuda/device.h"

namespace trix::cuda {

// Blocks covering `rows` rows.
template <class Config>
constexpr uint32_t gemv_grid_blocks(uint64_t rows) {
  return static_cast<uint32_t>((rows * Config::kLanesPerRow + Config::kThreadsPerBlock - 1) /
                               Config::kThreadsPerBlock);
}

struct GemvThread {
  uint64_t row;
  uint32_t lane;
};

// The calling thread's row and lane (inside a kernel).
template <class Config>
__device__ inline GemvThread gemv_thread() {
  static_assert(Config::kThreadsPerBlock % 32 == 0, "whole warps only");
  static_assert(32 % Config::kLanesPerRow == 0, "a row's threads lie in one warp");
  const uint64_t t = static_cast<uint64_t>(blockIdx.x) * Config::kThreadsPerBlock + threadIdx.x;
  return {t / Config::kLanesPerRow, static_cast<uint32_t>(t % Config::kLanesPerRow)};
}

}  // namespace trix::cuda
