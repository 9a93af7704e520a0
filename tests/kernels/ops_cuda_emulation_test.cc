// The generated CUDA launchers of the device ops (trix/cuda/<op>.cuh), run
// unchanged on the CPU grid emulator (trix/cuda/emulator.h: fibers per
// thread, real warp shuffles), checked against the CPU ops and codecs
// (gpu_ops_cases.h), with the spec's block size and with one-warp blocks (an
// index that only works for one geometry fails one of them).
#include <gtest/gtest.h>

#include "kernels/gpu_ops_cases.h"
#include "trix/cuda/add_f32.cuh"
#include "trix/cuda/attention_combine_f32.cuh"
#include "trix/cuda/attention_decode_f16.cuh"
#include "trix/cuda/attention_prefill_f16.cuh"
#include "trix/cuda/embedding_f16.cuh"
#include "trix/cuda/embedding_f32.cuh"
#include "trix/cuda/embedding_q6_k.cuh"
#include "trix/cuda/embedding_q8_0.cuh"
#include "trix/cuda/quantize_i8_s.cuh"
#include "trix/cuda/quantize_q8_k.cuh"
#include "trix/cuda/relu2_gate_f32.cuh"
#include "trix/cuda/rmsnorm_f32.cuh"
#include "trix/cuda/rope_adjacent_f32.cuh"
#include "trix/cuda/rope_neox_f32.cuh"
#include "trix/cuda/swiglu_f32.cuh"

namespace trix::cuda {
namespace {

namespace ops = trix::test::gpu_ops;

struct OneWarpBlocks {
  static constexpr unsigned kThreadsPerBlock = 32;
};

// Runs `check` with the spec's launcher, then with one-warp blocks.
#define TRIX_OPS_EMULATION_TEST(kernel, check)                                                           \
  TEST(OpsCudaEmulation, kernel) {                                                                       \
    using Args = kernels::kernel::Args;                                                                  \
    ops::check([](const Args& a) { ASSERT_EQ(launch_##kernel(a), cudaSuccess); });                        \
    ops::check([](const Args& a) { ASSERT_EQ(launch_##kernel##_as<OneWarpBlocks>(a), cudaSuccess); });    \
  }

TRIX_OPS_EMULATION_TEST(add_f32, check_add)
TRIX_OPS_EMULATION_TEST(swiglu_f32, check_swiglu)
TRIX_OPS_EMULATION_TEST(relu2_gate_f32, check_relu2_gate)
TRIX_OPS_EMULATION_TEST(rope_adjacent_f32, check_rope_adjacent)
TRIX_OPS_EMULATION_TEST(rope_neox_f32, check_rope_neox)
TRIX_OPS_EMULATION_TEST(rmsnorm_f32, check_rmsnorm)
TRIX_OPS_EMULATION_TEST(quantize_q8_k, check_quantize_q8_k)
TRIX_OPS_EMULATION_TEST(quantize_i8_s, check_quantize_i8_s)
TRIX_OPS_EMULATION_TEST(attention_prefill_f16, check_attention_prefill)

TEST(OpsCudaEmulation, attention_decode_f16) {
  ops::check_attention_decode(
      [](const kernels::attention_decode_f16::Args& a) { ASSERT_EQ(launch_attention_decode_f16(a), cudaSuccess); },
      [](const kernels::attention_combine_f32::Args& a) { ASSERT_EQ(launch_attention_combine_f32(a), cudaSuccess); });
  ops::check_attention_decode(
      [](const kernels::attention_decode_f16::Args& a) {
        ASSERT_EQ(launch_attention_decode_f16_as<OneWarpBlocks>(a), cudaSuccess);
      },
      [](const kernels::attention_combine_f32::Args& a) {
        ASSERT_EQ(launch_attention_combine_f32_as<OneWarpBlocks>(a), cudaSuccess);
      },
      /*short_only=*/true);
}

TRIX_OPS_EMULATION_TEST(embedding_f32, check_embedding_f32)
TRIX_OPS_EMULATION_TEST(embedding_f16, check_embedding_f16)
TRIX_OPS_EMULATION_TEST(embedding_q8_0, check_embedding_q8_0)
TRIX_OPS_EMULATION_TEST(embedding_q6_k, check_embedding_q6_k)

}  // namespace
}  // namespace trix::cuda
