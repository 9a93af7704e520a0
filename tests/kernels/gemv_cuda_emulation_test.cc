// The generated CUDA GEMV launchers (trix/cuda/<kernel>.cuh), run unchanged on
// the CPU grid emulator (trix/cuda/emulator.h: fibers per thread, real warp
// shuffles), checked against code independent of the shared device bodies
// (gpu_gemv_cases.h: fp64 dots from the format codecs and the Highway
// kernels bit for bit). Also runs each kernel with a one-warp block
// geometry other than its spec's, to catch indexing that only works for one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/gpu_gemv_cases.h"
#include "trix/cuda/gemv_f16_f32.cuh"
#include "trix/cuda/gemv_i2_s_i8_s.cuh"
#include "trix/cuda/gemv_q4_k_q8_k.cuh"
#include "trix/cuda/gemv_q6_k_q8_k.cuh"
#include "trix/cuda/gemv_q8_0_q8_0.cuh"
#include "trix/cuda/gemv_tq2_0_q8_k.cuh"
#include "trix/cuda/upload.h"

namespace trix::cuda {
namespace {

// Another geometry than the specs', to catch index bugs.
struct OneWarpBlocks {
  static constexpr unsigned kThreadsPerBlock = 32;
  static constexpr unsigned kLanesPerRow = 16;
};
struct OneWarpRowBlocks {  // block-sequential kernels: a warp per row
  static constexpr unsigned kThreadsPerBlock = 32;
  static constexpr unsigned kLanesPerRow = 32;
};

using Launch = cudaError_t (*)(const GemvArgs&, cudaStream_t);

struct Launchers {
  Launch spec, one_warp;
};

Launchers launchers(const std::string& name) {
  if (name == "gemv_tq2_0_q8_k") {
    return {launch_gemv_tq2_0_q8_k, launch_gemv_lanes16<OneWarpBlocks, gemv_tq2_0_q8_k_body::Body>};
  }
  if (name == "gemv_f16_f32") {
    return {launch_gemv_f16_f32, launch_gemv_lanes16<OneWarpBlocks, gemv_f16_f32_body::Body>};
  }
  if (name == "gemv_q6_k_q8_k") {
    return {launch_gemv_q6_k_q8_k, launch_gemv_lanes16<OneWarpBlocks, gemv_q6_k_q8_k_body::Body>};
  }
  if (name == "gemv_q4_k_q8_k") {
    return {launch_gemv_q4_k_q8_k, launch_gemv_lanes16<OneWarpBlocks, gemv_q4_k_q8_k_body::Body>};
  }
  if (name == "gemv_q8_0_q8_0") {
    return {launch_gemv_q8_0_q8_0, launch_gemv_block_sequential<OneWarpRowBlocks, gemv_q8_0_q8_0_body::Body>};
  }
  if (name == "gemv_i2_s_i8_s") {
    return {launch_gemv_i2_s_i8_s, launch_gemv_int_lanes16<OneWarpBlocks, gemv_i2_s_i8_s_body::Body>};
  }
  ADD_FAILURE() << "no CUDA launcher for " << name;
  return {nullptr, nullptr};
}

std::vector<float> run(Launch launch, const test::GpuGemvProblem& p) {
  std::vector<float> y(p.args.rows, -1.0f);
  GemvArgs args = p.args;
  args.y = y.data();
  EXPECT_EQ(launch(args, nullptr), cudaSuccess);
  return y;
}

void check_kernel(const test::GpuGemvKernel& spec, bool spec_geometry) {
  const Launchers l = launchers(spec.name);
  ASSERT_NE(l.spec, nullptr);
  double worst = 0.0;
  for (const auto& p : spec.problems) {
    worst = std::max(worst, test::expect_gpu_gemv_matches(spec, p, run(spec_geometry ? l.spec : l.one_warp, p)));
  }
  // Measured (x86 AVX3, dev build): tq2_0 0.054, f16 0.13, q6_k 0.013,
  // q4_k 0.02 of the bound; a swapped pair of code fields in a body gives
  // > 1e4 (and every Highway comparison fails).
  std::printf("%s: worst |error| / fp64 bound: %.3g\n", spec.name, worst);
  ::testing::Test::RecordProperty(std::string(spec.name) + "_worst_fp64_error_over_bound", std::to_string(worst));
}

class GemvCudaEmulation : public ::testing::TestWithParam<size_t> {};

TEST_P(GemvCudaEmulation, SpecGeometryMatchesIndependentCode) {
  check_kernel(test::gpu_gemv_kernels()[GetParam()], true);
}

TEST_P(GemvCudaEmulation, OneWarpBlocksMatchIndependentCode) {
  check_kernel(test::gpu_gemv_kernels()[GetParam()], false);
}

INSTANTIATE_TEST_SUITE_P(Kernels, GemvCudaEmulation, ::testing::Range<size_t>(0, 6),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return std::string(test::gpu_gemv_kernels()[info.param].name);
                         });

// TQ1_0 weights run the TQ2_0 kernel after the conversion at upload.
TEST(GemvCudaEmulationTQ1_0, ConvertedAtUploadMatchesIndependentCode) {
  const test::GpuGemvKernel& tq2 = test::gpu_gemv_kernels()[0];
  ASSERT_EQ(std::string(tq2.name), "gemv_tq2_0_q8_k");
  for (const auto& p : test::tq1_0_problems()) {
    std::vector<BlockTQ2_0> uploaded(p.tq1.size());
    upload_tq1_0_as_tq2_0(p.tq1.data(), p.tq1.size(), uploaded.data());
    test::GpuGemvProblem on_device = p.checks;
    on_device.args.w = uploaded.data();
    test::expect_gpu_gemv_matches(tq2, p.checks, run(launch_gemv_tq2_0_q8_k, on_device));
  }
}

TEST(GemvCudaEmulationGrid, CoversEveryRow) {
  for (uint64_t rows : {1u, 7u, 8u, 9u, 2560u, 6912u}) {
    const uint64_t threads = uint64_t{gemv_grid_blocks<gemv_tq2_0_q8_k_config>(rows)} *
                             gemv_tq2_0_q8_k_config::kThreadsPerBlock;
    EXPECT_GE(threads, rows * 16);
    EXPECT_LT(threads - rows * 16, gemv_tq2_0_q8_k_config::kThreadsPerBlock);
  }
}

TEST(GemvCudaEmulationGrid, ZeroRowsLaunchesNothing) {
  GemvArgs args{nullptr, 0, nullptr, 256, nullptr, 0};
  EXPECT_EQ(launch_gemv_tq2_0_q8_k(args), cudaSuccess);
}

}  // namespace
}  // namespace trix::cuda
