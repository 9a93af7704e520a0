// The generated Metal kernel source, compiled as C++ under a shim of
// <metal_stdlib> and run on the CPU with its SIMD-group shuffles emulated by
// threads, checked against code independent of the shared kernel body
// (gemv_independent_check.h: an fp64 dot from the documented layout, and the
// Highway kernels bit for bit). Also pins that the host header embeds
// exactly the .metal file.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "kernels/gemv_independent_check.h"
#include "kernels/gemv_test_data.h"
#include "trix/metal/gemv_tq2_0_q8_k.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"  // [[buffer(n)]] and friends
#include "trix/metal/gemv_tq2_0_q8_k.metal"
#pragma GCC diagnostic pop

namespace {

namespace host = trix::metal::gemv_tq2_0_q8_k;

std::vector<float> run_metal(const trix::test::GemvProblem& p) {
  std::vector<float> y(p.rows, -1.0f);
  trix_gemv_params params{static_cast<uint>(p.rows), static_cast<uint>(p.k / 256),
                          (p.k / 256) * sizeof(trix::BlockTQ2_0)};
  const auto* w = reinterpret_cast<const uchar*>(p.w.data());
  const auto* x = reinterpret_cast<const uchar*>(p.x.data());
  metal::shim::dispatch(host::grid_threads(p.rows), [&](uint tid) {
    gemv_tq2_0_q8_k(w, x, y.data(), params, tid);
  });
  return y;
}

TEST(GemvMetalShim, MatchesReference) {
  for (const auto& p : trix::test::gemv_problems()) {
    if (p.rows * p.k > 33 * 2560) continue;  // thread-per-lane emulation is slow; big K runs on CPU/CUDA
    trix::test::expect_matches_independent(p, run_metal(p));
  }
}

TEST(GemvMetalShim, LargeKOneRow) {
  const auto p = trix::test::make_gemv_problem(2, 8192, trix::test::GemvCase::kRandom, 5);
  trix::test::expect_matches_independent(p, run_metal(p));
}

TEST(GemvMetalShim, HostHeaderEmbedsTheMetalSource) {
  std::ifstream in(std::string(TRIX_GENERATED_DIR) + "/trix/metal/gemv_tq2_0_q8_k.metal");
  ASSERT_TRUE(in) << "cannot read the generated .metal file";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), std::string(host::kSource));
  EXPECT_NE(ss.str().find(std::string("kernel void ") + host::kFunctionName + "("), std::string::npos)
      << "host and kernel disagree on the function name";
  EXPECT_EQ(host::kThreadsPerThreadgroup % host::kLanesPerRow, 0u);
}

}  // namespace
