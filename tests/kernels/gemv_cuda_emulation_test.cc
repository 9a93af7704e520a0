// The CUDA variant's per-thread body, run on the CPU over an emulation of its
// launch grid (blocks x threads, then the warp butterfly), against the scalar
// reference under the spec's accuracy contract (kAccuracy). Compiled by the
// host compiler: the .cuh exposes the body as a plain function when
// __CUDACC__ is not defined.
#include <gtest/gtest.h>

#include <vector>

#include "common/kernel_accuracy.h"
#include "kernels/gemv_test_data.h"
#include "trix/cuda/gemv_tq2_0_q8_k.cuh"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

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
  for (const auto& p : test::gemv_problems()) {
    std::vector<float> want(p.rows);
    kernels::gemv_tq2_0_q8_k_ref(p.args(want.data()));
    const std::vector<float> got = run_emulated_grid<Config>(p.args(nullptr));
    for (size_t r = 0; r < p.rows; ++r) {
      ASSERT_TRUE(test::meets_contract(kernels::gemv_tq2_0_q8_k::kAccuracy, want[r], got[r]))
          << p.label << " row " << r;
    }
  }
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
