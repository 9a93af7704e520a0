// The CUDA dialect TriX kernels are written in, compiled by nvcc for a GPU
// and by the host compiler for the CPU emulator (trix/cuda/emulator.h), so a
// kernel and its launcher are written once and tests run the same code.
//
// Kernels use plain CUDA (threadIdx, blockIdx, blockDim, gridDim,
// __syncthreads, __shfl_*_sync, atomicAdd, __global__ / __device__,
// cudaError_t / cudaStream_t) plus two spellings CUDA syntax forces:
//   TRIX_SHARED(T, name)     a __shared__ object (T may be an array type:
//                            TRIX_SHARED(float[32], partial))
//   TRIX_CUDA_LAUNCH(grid, block, shared_bytes, stream, kernel)(args...)
//                            kernel<<<grid, block, shared_bytes, stream>>>(args...)
// Without nvcc, the CUDA names are the emulator's: a launch runs the grid on
// the calling thread and returns when it is done (as a synchronous stream).
#pragma once

#include <cstdint>

namespace trix::cuda {
// T spelled so that `SharedType<T> name` declares name as a T (T may be an
// array type).
template <class T>
using SharedType = T;
}  // namespace trix::cuda

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define TRIX_SHARED(T, name) __shared__ ::trix::cuda::SharedType<T> name
#define TRIX_CUDA_LAUNCH(grid, block, shared_bytes, stream, ...) __VA_ARGS__<<<grid, block, shared_bytes, stream>>>

#else  // the emulator

#include "trix/cuda/emulator.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define threadIdx (::trix::cuda::emu::thread_idx())
#define blockIdx (::trix::cuda::emu::block_idx())
#define blockDim (::trix::cuda::emu::block_dim())
#define gridDim (::trix::cuda::emu::grid_dim())
#define TRIX_SHARED(T, name) ::trix::cuda::SharedType<T>& name = ::trix::cuda::emu::shared<T>()
#define TRIX_CUDA_LAUNCH(grid, block, shared_bytes, stream, ...) \
  ::trix::cuda::emu::Launcher(grid, block, shared_bytes, stream, __VA_ARGS__)

using dim3 = ::trix::cuda::emu::Dim3;
inline constexpr int warpSize = 32;

enum cudaError_t { cudaSuccess = 0 };
using cudaStream_t = struct trix_emulated_stream*;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }

inline void __syncthreads() { ::trix::cuda::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::trix::cuda::emu::syncwarp(mask); }

template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return ::trix::cuda::emu::shfl(::trix::cuda::emu::ShuffleKind::kIdx, mask, v, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::trix::cuda::emu::shfl(::trix::cuda::emu::ShuffleKind::kUp, mask, v, static_cast<int>(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::trix::cuda::emu::shfl(::trix::cuda::emu::ShuffleKind::kDown, mask, v, static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::trix::cuda::emu::shfl(::trix::cuda::emu::ShuffleKind::kXor, mask, v, lane_mask, width);
}
template <class T>
T atomicAdd(T* address, T v) {
  return ::trix::cuda::emu::atomic_add(address, v);
}

namespace trix::cuda::emu {

// kernel<<<grid, block, shared_bytes, stream>>>: the callable a
// TRIX_CUDA_LAUNCH expands to; calling it runs the grid.
template <class Kernel>
struct Launcher {
  Launcher(Dim3 g, Dim3 b, size_t shared_bytes, cudaStream_t, const Kernel& k)
      : grid(g), block(b), shared(shared_bytes), kernel(k) {}
  template <class... Args>
  void operator()(Args... args) const {
    launch(kernel, grid, block, shared, args...);
  }
  Dim3 grid, block;
  size_t shared;
  const Kernel& kernel;
};
template <class Kernel>
Launcher(Dim3, Dim3, size_t, cudaStream_t, const Kernel&) -> Launcher<Kernel>;

}  // namespace trix::cuda::emu

#endif
