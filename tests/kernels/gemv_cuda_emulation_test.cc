// The CUDA variant's per-thread body, run on the CPU over an emulation of its
// launch grid (blocks x threads, then the warp butterfly), checked against
// code independent of the shared kernel body (gemv_independent_check.h: an
// fp64 dot from the documented layout, and the Highway kernels bit for bit).
// Compiled by the host compiler: the .cuh exposes the body as a plain
// function when __CUDACC__ is not defined.
#include <gtest/gtest.h>

#include <vector>

#include <algorithm>
#include <cstdio>
#include <string>

#include "kernels/gemv_independent_check.h"
#include "kernels/gemv_test_data.h"
#include "trix/cuda/gemv_tq2_0_q8_k.cuh"

namespace trix::cuda {
namespace {

template <class Config>
std::vector<float> run_emulated_grid(const GemvArgs& args) {
  std::vector<float> y(args.rows, -1.0f);
  const uint32_t blocks = gemv_grid_blocks<Config>(args.rows);
  for (uint32_t b = 0; b < blocks; ++b) {
    // One half-warp of 16 threads per row: collect their values, then apply
    // the xor-shuffle butterfly exactly as __shfl_xor_sync(width 16) would.
    for (uint32_t t0 = 0; t0 < Config::kThreadsPerBlock; t0 += 16) {
      float v[16];
      for (uint32_t l = 0; l < 16; ++l) v[l] = gemv_tq2_0_q8_k_thread<Config>(args, b, t0 + l);
      for (unsigned m = 8; m != 0; m >>= 1) {
        float next[16];
        for (unsigned l = 0; l < 16; ++l) next[l] = v[l] + v[l ^ m];
        std::copy(next, next + 16, v);
      }
      const LaneTask task = gemv_lane_task<Config>(b, t0);
      EXPECT_EQ(task.lane, 0u);
      if (task.row < args.rows) y[task.row] = v[0];
    }
  }
  return y;
}

struct SmallBlocks {  // another geometry than the spec's, to catch index bugs
  static constexpr unsigned kThreadsPerBlock = 32;
};

template <class Config>
void check_all_problems() {
  double worst = 0.0;
  for (const auto& p : test::gemv_problems()) {
    const std::vector<float> got = run_emulated_grid<Config>(p.args(nullptr));
    worst = std::max(worst, test::expect_matches_independent(p, got));
  }
  // Measured 0.054 (x86 AVX3, dev build); a swapped pair of code fields in
  // the body gives > 1e3 (and every Highway comparison fails).
  std::printf("worst |error| / fp64 tolerance: %.3g\n", worst);
  ::testing::Test::RecordProperty("worst_fp64_error_over_tolerance", std::to_string(worst));
}

TEST(GemvCudaEmulation, SpecGeometryMatchesReference) {
  static_assert(gemv_tq2_0_q8_k_config::kThreadsPerBlock % 32 == 0);
  check_all_problems<gemv_tq2_0_q8_k_config>();
}

TEST(GemvCudaEmulation, OneWarpBlocksMatchReference) { check_all_problems<SmallBlocks>(); }

TEST(GemvCudaEmulation, GridCoversEveryRow) {
  for (uint64_t rows : {1u, 7u, 8u, 9u, 2560u, 6912u}) {
    const uint64_t threads = uint64_t{gemv_grid_blocks<gemv_tq2_0_q8_k_config>(rows)} *
                             gemv_tq2_0_q8_k_config::kThreadsPerBlock;
    EXPECT_GE(threads, rows * 16);
    EXPECT_LT(threads - rows * 16, gemv_tq2_0_q8_k_config::kThreadsPerBlock);
  }
}

}  // namespace
}  // namespace trix::cuda
