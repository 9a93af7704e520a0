// The generated Metal sources of the device ops, compiled as C++ under the
// <metal_stdlib> shim (metal_shim/: threadgroups and SIMD-group shuffles on
// the CUDA grid emulator) and run on the CPU, checked against the CPU ops
// and codecs (gpu_ops_cases.h). Also pins that each host header embeds
// exactly its .metal file, names its kernel function and that its Params
// struct is the .metal source's.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include <metal_stdlib>

#include "kernels/gpu_ops_cases.h"
#include "trix/metal/add_f32.h"
#include "trix/metal/attention_combine_f32.h"
#include "trix/metal/attention_decode_f16.h"
#include "trix/metal/attention_prefill_f16.h"
#include "trix/metal/embedding_f16.h"
#include "trix/metal/embedding_f32.h"
#include "trix/metal/embedding_q6_k.h"
#include "trix/metal/embedding_q8_0.h"
#include "trix/metal/quantize_i8_s.h"
#include "trix/metal/quantize_q8_k.h"
#include "trix/metal/relu2_gate_f32.h"
#include "trix/metal/rmsnorm_f32.h"
#include "trix/metal/rope_adjacent_f32.h"
#include "trix/metal/rope_neox_f32.h"
#include "trix/metal/swiglu_f32.h"

// Each .metal source in its own namespace: they define the same helper names.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"  // [[buffer(n)]] and friends
namespace msl_add_f32 {
#include "trix/metal/add_f32.metal"
}
namespace msl_swiglu_f32 {
#include "trix/metal/swiglu_f32.metal"
}
namespace msl_relu2_gate_f32 {
#include "trix/metal/relu2_gate_f32.metal"
}
namespace msl_rope_adjacent_f32 {
#include "trix/metal/rope_adjacent_f32.metal"
}
namespace msl_rope_neox_f32 {
#include "trix/metal/rope_neox_f32.metal"
}
namespace msl_rmsnorm_f32 {
#include "trix/metal/rmsnorm_f32.metal"
}
namespace msl_quantize_q8_k {
#include "trix/metal/quantize_q8_k.metal"
}
namespace msl_quantize_i8_s {
#include "trix/metal/quantize_i8_s.metal"
}
namespace msl_attention_decode_f16 {
#include "trix/metal/attention_decode_f16.metal"
}
namespace msl_attention_combine_f32 {
#include "trix/metal/attention_combine_f32.metal"
}
namespace msl_attention_prefill_f16 {
#include "trix/metal/attention_prefill_f16.metal"
}
namespace msl_embedding_f32 {
#include "trix/metal/embedding_f32.metal"
}
namespace msl_embedding_f16 {
#include "trix/metal/embedding_f16.metal"
}
namespace msl_embedding_q8_0 {
#include "trix/metal/embedding_q8_0.metal"
}
namespace msl_embedding_q6_k {
#include "trix/metal/embedding_q6_k.metal"
}
#pragma GCC diagnostic pop

namespace {

namespace ops = trix::test::gpu_ops;

// The host header's facts agree with the .metal file they were generated with.
void expect_host_header(const char* name, const char* source, const char* function_name) {
  std::ifstream in(std::string(TRIX_GENERATED_DIR) + "/trix/metal/" + name + ".metal");
  ASSERT_TRUE(in) << "cannot read the generated .metal file of " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), std::string(source)) << name;
  EXPECT_EQ(std::string(function_name), name);
  EXPECT_NE(ss.str().find(std::string("kernel void ") + function_name + "("), std::string::npos) << name;
}

// The test of one op: its host header, then the shared checks, dispatching
// the kernel as the host header says with the .metal source's params struct
// p initialised by `params` from Args a and the kernel called with `call`
// (buffers from a, then p and the thread position t).
// The runner of one op's kernel: dispatches it as the host header says,
// the .metal source's params struct p initialised by `params` from Args a
// and the kernel called with `call` (buffers from a, then p and the thread
// position t).
#define TRIX_METAL_RUN(name, params, call)                                                                     \
  [](const trix::kernels::name::Args& a) {                                                                      \
    namespace host = trix::metal::name;                                                                         \
    msl_##name::name##_params p params;                                                                         \
    metal::shim::dispatch(host::grid_threads(trix::kernels::name::count(a)), host::kThreadsPerThreadgroup,      \
                          [&](uint t) { msl_##name::name call; });                                              \
  }

// The host header of one op's Metal variant against its .metal source.
#define TRIX_EXPECT_HOST(name)                                                                                  \
  static_assert(sizeof(trix::metal::name::Params) == sizeof(msl_##name::name##_params));                       \
  expect_host_header(#name, trix::metal::name::kSource, trix::metal::name::kFunctionName)

// The test of one op: its host header, then the shared checks.
#define TRIX_OPS_SHIM_TEST(name, check, params, call) \
  TEST(OpsMetalShim, name) {                          \
    TRIX_EXPECT_HOST(name);                           \
    ops::check(TRIX_METAL_RUN(name, params, call));   \
  }

TRIX_OPS_SHIM_TEST(add_f32, check_add, ({a.n}), (a.a, a.b, a.out, p, t))
TRIX_OPS_SHIM_TEST(swiglu_f32, check_swiglu, ({a.n}), (a.a, a.b, a.out, p, t))
TRIX_OPS_SHIM_TEST(relu2_gate_f32, check_relu2_gate, ({a.n}), (a.a, a.b, a.out, p, t))
TRIX_OPS_SHIM_TEST(rope_adjacent_f32, check_rope_adjacent, ({a.n_heads, a.head_dim}), (a.x, a.cos_t, a.sin_t, p, t))
TRIX_OPS_SHIM_TEST(rope_neox_f32, check_rope_neox, ({a.n_heads, a.head_dim}), (a.x, a.cos_t, a.sin_t, p, t))
TRIX_OPS_SHIM_TEST(rmsnorm_f32, check_rmsnorm, ({a.n, a.eps, a.rows}), (a.x, a.w, a.out, p, t))
TRIX_OPS_SHIM_TEST(quantize_q8_k, check_quantize_q8_k, ({a.blocks}), (a.x, a.y, p, t))
TRIX_OPS_SHIM_TEST(quantize_i8_s, check_quantize_i8_s, ({a.n, a.rows}),
                   (a.x, reinterpret_cast<char*>(a.q), a.scale, a.sum, p, t))
TRIX_OPS_SHIM_TEST(attention_prefill_f16, check_attention_prefill,
                   ({a.pos0, a.n_tok, a.n_heads, a.n_kv_heads, a.head_dim, a.kv_stride}), (a.q, a.k, a.v, a.out, p, t))

TEST(OpsMetalShim, attention_decode_f16) {
  TRIX_EXPECT_HOST(attention_decode_f16);
  TRIX_EXPECT_HOST(attention_combine_f32);
  ops::check_attention_decode(
      TRIX_METAL_RUN(attention_decode_f16,
                     ({a.n_pos, a.n_heads, a.n_kv_heads, a.head_dim, a.kv_stride, a.split_len}),
                     (a.q, a.k, a.v, a.part_m, a.part_l, a.part_acc, p, t)),
      TRIX_METAL_RUN(attention_combine_f32, ({a.n_pos, a.n_heads, a.head_dim, a.split_len}),
                     (a.part_m, a.part_l, a.part_acc, a.out, p, t)));
}

TRIX_OPS_SHIM_TEST(embedding_f32, check_embedding_f32, ({a.token, a.n}), (a.table, a.out, p, t))
TRIX_OPS_SHIM_TEST(embedding_f16, check_embedding_f16, ({a.token, a.n}), (a.table, a.out, p, t))
TRIX_OPS_SHIM_TEST(embedding_q8_0, check_embedding_q8_0, ({a.token, a.n}), (a.table, a.out, p, t))
TRIX_OPS_SHIM_TEST(embedding_q6_k, check_embedding_q6_k, ({a.token, a.n}), (a.table, a.out, p, t))

}  // namespace
