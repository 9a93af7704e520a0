// The generated Metal kernel sources, compiled as C++ under a shim of
// <metal_stdlib> (metal_shim/: threadgroups and SIMD-group shuffles on the
// CUDA grid emulator) and run on the CPU, checked against code independent
// of the shared device bodies (gpu_gemv_cases.h: fp64 dots from the format
// codecs and the Highway kernels bit for bit). Also pins that each host
// header embeds exactly its .metal file and names its kernel function.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <metal_stdlib>

#include "kernels/gpu_gemv_cases.h"
#include "trix/metal/gemv_f16_f32.h"
#include "trix/metal/gemv_i2_s_i8_s.h"
#include "trix/metal/gemv_q4_k_q8_k.h"
#include "trix/metal/gemv_q6_k_q8_k.h"
#include "trix/metal/gemv_q8_0_q8_0.h"
#include "trix/metal/gemv_tq2_0_q8_k.h"
#include "trix/cuda/upload.h"

// Each .metal source in its own namespace: they define the same helper names.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"  // [[buffer(n)]] and friends
namespace msl_tq2_0 {
#include "trix/metal/gemv_tq2_0_q8_k.metal"
}
namespace msl_f16 {
#include "trix/metal/gemv_f16_f32.metal"
}
namespace msl_q6_k {
#include "trix/metal/gemv_q6_k_q8_k.metal"
}
namespace msl_q4_k {
#include "trix/metal/gemv_q4_k_q8_k.metal"
}
namespace msl_q8_0 {
#include "trix/metal/gemv_q8_0_q8_0.metal"
}
namespace msl_i2_s {
#include "trix/metal/gemv_i2_s_i8_s.metal"
}
#pragma GCC diagnostic pop

namespace {

// One Metal kernel: its entry point and its host header's facts.
struct MetalKernel {
  std::function<void(const uchar*, const uchar*, float*, uint32_t, uint32_t, uint64_t, uint)> run;
  unsigned threads_per_threadgroup;
  uint64_t (*grid_threads)(uint64_t);
  const char* source;
  const char* function_name;
};

template <class Params, class Fn>
auto entry(Fn fn) {
  return [fn](const uchar* w, const uchar* x, float* y, uint32_t rows, uint32_t k, uint64_t row_bytes, uint tid) {
    Params p{rows, k, row_bytes};
    fn(w, x, y, p, tid);
  };
}

MetalKernel metal_kernel(const std::string& name) {
  namespace m = trix::metal;
  if (name == "gemv_tq2_0_q8_k") {
    return {entry<msl_tq2_0::trix_gemv_params>(msl_tq2_0::gemv_tq2_0_q8_k),
            m::gemv_tq2_0_q8_k::kThreadsPerThreadgroup, m::gemv_tq2_0_q8_k::grid_threads,
            m::gemv_tq2_0_q8_k::kSource, m::gemv_tq2_0_q8_k::kFunctionName};
  }
  if (name == "gemv_f16_f32") {
    return {entry<msl_f16::trix_gemv_params>(msl_f16::gemv_f16_f32), m::gemv_f16_f32::kThreadsPerThreadgroup,
            m::gemv_f16_f32::grid_threads, m::gemv_f16_f32::kSource, m::gemv_f16_f32::kFunctionName};
  }
  if (name == "gemv_q6_k_q8_k") {
    return {entry<msl_q6_k::trix_gemv_params>(msl_q6_k::gemv_q6_k_q8_k), m::gemv_q6_k_q8_k::kThreadsPerThreadgroup,
            m::gemv_q6_k_q8_k::grid_threads, m::gemv_q6_k_q8_k::kSource, m::gemv_q6_k_q8_k::kFunctionName};
  }
  if (name == "gemv_q4_k_q8_k") {
    return {entry<msl_q4_k::trix_gemv_params>(msl_q4_k::gemv_q4_k_q8_k), m::gemv_q4_k_q8_k::kThreadsPerThreadgroup,
            m::gemv_q4_k_q8_k::grid_threads, m::gemv_q4_k_q8_k::kSource, m::gemv_q4_k_q8_k::kFunctionName};
  }
  if (name == "gemv_q8_0_q8_0") {
    return {entry<msl_q8_0::trix_gemv_params>(msl_q8_0::gemv_q8_0_q8_0), m::gemv_q8_0_q8_0::kThreadsPerThreadgroup,
            m::gemv_q8_0_q8_0::grid_threads, m::gemv_q8_0_q8_0::kSource, m::gemv_q8_0_q8_0::kFunctionName};
  }
  if (name == "gemv_i2_s_i8_s") {
    return {entry<msl_i2_s::trix_gemv_params>(msl_i2_s::gemv_i2_s_i8_s), m::gemv_i2_s_i8_s::kThreadsPerThreadgroup,
            m::gemv_i2_s_i8_s::grid_threads, m::gemv_i2_s_i8_s::kSource, m::gemv_i2_s_i8_s::kFunctionName};
  }
  ADD_FAILURE() << "no Metal kernel for " << name;
  return {};
}

std::vector<float> run_metal(const MetalKernel& m, const trix::test::GpuGemvProblem& p) {
  std::vector<float> y(p.args.rows, -1.0f);
  const auto* w = static_cast<const uchar*>(p.args.w);
  const auto* x = static_cast<const uchar*>(p.args.x);
  metal::shim::dispatch(m.grid_threads(p.args.rows), m.threads_per_threadgroup, [&](uint tid) {
    m.run(w, x, y.data(), static_cast<uint32_t>(p.args.rows), static_cast<uint32_t>(p.args.k), p.args.w_row_bytes,
          tid);
  });
  return y;
}

class GemvMetalShim : public ::testing::TestWithParam<size_t> {};

TEST_P(GemvMetalShim, MatchesIndependentCode) {
  const auto& spec = trix::test::gpu_gemv_kernels()[GetParam()];
  const MetalKernel m = metal_kernel(spec.name);
  ASSERT_TRUE(m.run);
  for (const auto& p : spec.problems) trix::test::expect_gpu_gemv_matches(spec, p, run_metal(m, p));
}

TEST_P(GemvMetalShim, HostHeaderEmbedsTheMetalSource) {
  const auto& spec = trix::test::gpu_gemv_kernels()[GetParam()];
  const MetalKernel m = metal_kernel(spec.name);
  std::ifstream in(std::string(TRIX_GENERATED_DIR) + "/trix/metal/" + spec.name + ".metal");
  ASSERT_TRUE(in) << "cannot read the generated .metal file of " << spec.name;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), std::string(m.source));
  EXPECT_EQ(std::string(m.function_name), spec.name);
  EXPECT_NE(ss.str().find(std::string("kernel void ") + m.function_name + "("), std::string::npos)
      << "host and kernel disagree on the function name";
  EXPECT_EQ(m.threads_per_threadgroup % 16, 0u);
}

INSTANTIATE_TEST_SUITE_P(Kernels, GemvMetalShim, ::testing::Range<size_t>(0, 6),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return std::string(trix::test::gpu_gemv_kernels()[info.param].name);
                         });

// TQ1_0 weights run the TQ2_0 kernel after the conversion at upload.
TEST(GemvMetalShimTQ1_0, ConvertedAtUploadMatchesIndependentCode) {
  const auto& tq2 = trix::test::gpu_gemv_kernels()[0];
  ASSERT_EQ(std::string(tq2.name), "gemv_tq2_0_q8_k");
  const MetalKernel m = metal_kernel(tq2.name);
  for (const auto& p : trix::test::tq1_0_problems()) {
    std::vector<trix::BlockTQ2_0> uploaded(p.tq1.size());
    trix::cuda::upload_tq1_0_as_tq2_0(p.tq1.data(), p.tq1.size(), uploaded.data());
    trix::test::GpuGemvProblem on_device = p.checks;
    on_device.args.w = uploaded.data();
    trix::test::expect_gpu_gemv_matches(tq2, p.checks, run_metal(m, on_device));
  }
}

TEST(GemvMetalShimDispatch, RejectsPartialThreadgroups) {
  EXPECT_THROW(metal::shim::dispatch(48, 32, [](uint) {}), trix::Error);
}

}  // namespace
