// The generated Metal kernel source, compiled as C++ under a shim of
// <metal_stdlib> and run on the CPU with its SIMD-group shuffles emulated by
// threads, bit-exact against the scalar reference. Also pins that the host
// header embeds exactly the .metal file.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "common/kernel_accuracy.h"
#include "kernels/gemv_test_data.h"
#include "trix/kernels/gemv_tq2_0_q8_k.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"
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
    std::vector<float> want(p.rows);
    trix::kernels::gemv_tq2_0_q8_k_ref(p.args(want.data()));
    const std::vector<float> got = run_metal(p);
    for (size_t r = 0; r < p.rows; ++r) {
      ASSERT_TRUE(trix::test::meets_contract(trix::kernels::gemv_tq2_0_q8_k::kAccuracy, want[r], got[r])) << p.label << " row " << r;
    }
  }
}

TEST(GemvMetalShim, LargeKOneRow) {
  const auto p = trix::test::make_gemv_problem(2, 8192, trix::test::GemvCase::kRandom, 5);
  std::vector<float> want(p.rows);
  trix::kernels::gemv_tq2_0_q8_k_ref(p.args(want.data()));
  const std::vector<float> got = run_metal(p);
  for (size_t r = 0; r < p.rows; ++r) ASSERT_TRUE(trix::test::meets_contract(trix::kernels::gemv_tq2_0_q8_k::kAccuracy, want[r], got[r]));
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
