// The CUDA grid emulator (trix/cuda/emulator.h) against CUDA's semantics for
// what TriX kernels use: thread/block indices in 3-D, __syncthreads as a
// barrier (a value written before it is seen by every thread after it),
// per-block __shared__ memory, the shuffle source-lane rules (idx, up, down,
// xor, widths below 32), atomics across blocks, dynamic shared memory; and
// that what CUDA leaves undefined is reported, not silently computed.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "common/expect_error.h"
#include "trix/cuda/device.h"

namespace {

// ---- kernels, in the dialect of trix/cuda/device.h

__global__ void write_indices(uint32_t* out) {
  const uint32_t block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const uint32_t thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const uint32_t threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * threads + thread] = block * 1000 + thread;
}

// Tree sum in shared memory: correct only if __syncthreads is a barrier
// (each step reads what other threads wrote in the previous one).
__global__ void block_sum(const int* in, int* out) {
  TRIX_SHARED(int[256], partial);
  const uint32_t t = threadIdx.x;
  partial[t] = in[blockIdx.x * blockDim.x + t];
  __syncthreads();
  for (uint32_t stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = partial[0];
}

__global__ void shuffles(int* out, int width) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int base = static_cast<int>(threadIdx.x) * 4;
  out[base + 0] = __shfl_sync(0xffffffffu, lane * 10, 3, width);
  out[base + 1] = __shfl_up_sync(0xffffffffu, lane * 10, 2, width);
  out[base + 2] = __shfl_down_sync(0xffffffffu, lane * 10, 5, width);
  out[base + 3] = __shfl_xor_sync(0xffffffffu, lane * 10, 6, width);
}

__global__ void warp_reduce_down(const float* in, float* out) {
  float v = in[threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) out[threadIdx.x / 32] = v;
}

__global__ void atomic_count(int* counter) { atomicAdd(counter, 1); }

__global__ void reverse_dynamic(const float* in, float* out) {
  float* buf = ::trix::cuda::emu::dynamic_shared<float>();
  buf[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  out[threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}

__global__ void early_return_then_barrier(int* out) {
  if (threadIdx.x >= 16) return;  // returned threads count as arrived
  TRIX_SHARED(int[16], s);
  s[threadIdx.x] = static_cast<int>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = s[15 - threadIdx.x];
}

__global__ void shuffle_with_returned_lane(int* out) {
  if (threadIdx.x == 5) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}

__global__ void barrier_against_shuffle(int* out) {
  if (threadIdx.x == 0) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
  }
}

__global__ void mask_without_caller(int* out) { out[threadIdx.x] = __shfl_xor_sync(0x1u, 1, 1); }

__global__ void half_warp_mask(int* out) {
  if (threadIdx.x < 16) out[threadIdx.x] = __shfl_xor_sync(0xffffu, static_cast<int>(threadIdx.x), 1);
}

__global__ void divergent_shared(int* out) {
  if (threadIdx.x == 0) {
    TRIX_SHARED(int[4], a);
    a[0] = 1;
    out[0] = a[0];
  } else {
    TRIX_SHARED(double[8], b);
    b[0] = 2;
    out[threadIdx.x] = static_cast<int>(b[0]);
  }
}

// ---- tests

TEST(CudaEmulator, IndicesIn3D) {
  const dim3 grid(3, 2, 2), block(4, 2, 3);
  std::vector<uint32_t> out(grid.count() * block.count(), 0);
  TRIX_CUDA_LAUNCH(grid, block, 0, nullptr, write_indices)(out.data());
  for (uint32_t b = 0; b < grid.count(); ++b) {
    for (uint32_t t = 0; t < block.count(); ++t) EXPECT_EQ(out[b * block.count() + t], b * 1000 + t);
  }
}

TEST(CudaEmulator, SyncthreadsIsABarrierAndSharedIsPerBlock) {
  std::vector<int> in(3 * 256);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i % 97) - 40;
  std::vector<int> out(3, 0);
  TRIX_CUDA_LAUNCH(3, 256, 0, nullptr, block_sum)(in.data(), out.data());
  for (int b = 0; b < 3; ++b) {
    int want = 0;
    for (int i = 0; i < 256; ++i) want += in[b * 256 + i];
    EXPECT_EQ(out[b], want) << "block " << b;
  }
}

TEST(CudaEmulator, ShuffleSourceLanesFollowCuda) {
  for (int width : {32, 16, 8}) {
    std::vector<int> out(64 * 4, -1);
    TRIX_CUDA_LAUNCH(1, 64, 0, nullptr, shuffles)(out.data(), width);
    for (int t = 0; t < 64; ++t) {
      const int lane = t % 32, seg = lane & ~(width - 1);
      const int up = lane - 2 >= seg ? lane - 2 : lane;
      const int down = lane + 5 < seg + width ? lane + 5 : lane;
      const int x = lane ^ 6;
      const int xr = x >= seg && x < seg + width ? x : lane;
      EXPECT_EQ(out[t * 4 + 0], (seg + 3) * 10) << "idx, width " << width << " thread " << t;
      EXPECT_EQ(out[t * 4 + 1], up * 10) << "up, width " << width << " thread " << t;
      EXPECT_EQ(out[t * 4 + 2], down * 10) << "down, width " << width << " thread " << t;
      EXPECT_EQ(out[t * 4 + 3], xr * 10) << "xor, width " << width << " thread " << t;
    }
  }
}

TEST(CudaEmulator, WarpReductionWithShuffleDown) {
  std::vector<float> in(96), out(3, 0.0f);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  TRIX_CUDA_LAUNCH(1, 96, 0, nullptr, warp_reduce_down)(in.data(), out.data());
  for (int w = 0; w < 3; ++w) EXPECT_EQ(out[w], static_cast<float>(32 * 32 * w + 31 * 32 / 2)) << "warp " << w;
}

TEST(CudaEmulator, AtomicsAcrossBlocks) {
  int counter = 0;
  TRIX_CUDA_LAUNCH(dim3(5, 3), 64, 0, nullptr, atomic_count)(&counter);
  EXPECT_EQ(counter, 5 * 3 * 64);
}

TEST(CudaEmulator, DynamicSharedMemory) {
  std::vector<float> in(40), out(40, 0.0f);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) + 0.5f;
  TRIX_CUDA_LAUNCH(1, 40, 40 * sizeof(float), nullptr, reverse_dynamic)(in.data(), out.data());
  for (size_t i = 0; i < 40; ++i) EXPECT_EQ(out[i], in[39 - i]);
}

TEST(CudaEmulator, ReturnedThreadsCountAsArrivedAtBarriers) {
  std::vector<int> out(16, -1);
  TRIX_CUDA_LAUNCH(1, 64, 0, nullptr, early_return_then_barrier)(out.data());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], 15 - i);
}

TEST(CudaEmulator, PartialMaskShuffles) {
  std::vector<int> out(32, -1);
  TRIX_CUDA_LAUNCH(1, 32, 0, nullptr, half_warp_mask)(out.data());
  for (int i = 0; i < 16; ++i) EXPECT_EQ(out[i], i ^ 1);
}

TEST(CudaEmulator, ReportsWhatCudaLeavesUndefined) {
  std::vector<int> out(64, 0);
  EXPECT_TRUE(trix::test::throws_error([&] { TRIX_CUDA_LAUNCH(1, 32, 0, nullptr, shuffle_with_returned_lane)(out.data()); },
                                       {"names lane 5, which has returned"}));
  EXPECT_TRUE(trix::test::throws_error([&] { TRIX_CUDA_LAUNCH(1, 32, 0, nullptr, barrier_against_shuffle)(out.data()); },
                                       {"deadlock"}));
  EXPECT_TRUE(trix::test::throws_error([&] { TRIX_CUDA_LAUNCH(1, 32, 0, nullptr, mask_without_caller)(out.data()); },
                                       {"does not include the calling lane"}));
  EXPECT_TRUE(trix::test::throws_error([&] { TRIX_CUDA_LAUNCH(1, 32, 0, nullptr, divergent_shared)(out.data()); },
                                       {"__shared__ declaration 0 differs"}));
  EXPECT_TRUE(trix::test::throws_error([&] { TRIX_CUDA_LAUNCH(1, 2048, 0, nullptr, atomic_count)(out.data()); },
                                       {"invalid launch configuration"}));
  EXPECT_TRUE(trix::test::throws_error([] { (void)::trix::cuda::emu::thread_idx(); }, {"outside an emulated launch"}));
}

}  // namespace
