// Scalar reference of the TQ2_0 x Q8_K GEMV: the lanes16 contract executed
// one lane at a time. Every backend (Highway targets, CUDA, Metal) must give
// these exact bits. Slow by design; tests and the naive baseline use it.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/lanes16.h"

namespace trix::kernels::tq2_0_q8_k_body {

#if defined(__CUDACC__)
#define TRIX_FN __host__ __device__
#else
#define TRIX_FN
#endif
#define TRIX_GLOBAL
#include "trix/kernels/device_host.body.h"
inline constexpr trix_u32 kWBlockBytes = BlockTQ2_0::kBytes;
inline constexpr trix_u32 kWScaleOffset = BlockTQ2_0::kDOffset;
inline constexpr trix_u32 kABlockBytes = BlockQ8_K::kBytes;
inline constexpr trix_u32 kAScaleOffset = BlockQ8_K::kDOffset;
inline constexpr trix_u32 kAQsOffset = BlockQ8_K::kQsOffset;
static_assert(BlockTQ2_0::kElements == 256 && BlockQ8_K::kElements == 256,
              "the lanes16 body assumes 256-element blocks");
static_assert(BlockTQ2_0::kGroupBytes == 32 && BlockTQ2_0::kShiftAscending,
              "the lanes16 body assumes the ggml TQ2_0 code layout");
#include "trix/kernels/gemv_tq2_0_q8_k.body.h"
#undef TRIX_GLOBAL
#undef TRIX_FN

}  // namespace trix::kernels::tq2_0_q8_k_body

namespace trix::kernels {

// One row: the 16 lanes then the butterfly.
inline float gemv_tq2_0_q8_k_row_ref(const BlockTQ2_0* w_row, const BlockQ8_K* x, size_t k) {
  float v[16];
  for (uint32_t lane = 0; lane < 16; ++lane) {
    v[lane] = tq2_0_q8_k_body::trix_gemv_tq2_0_q8_k_lane(
        reinterpret_cast<const uint8_t*>(w_row), reinterpret_cast<const uint8_t*>(x),
        static_cast<uint32_t>(k), lane);
  }
  return lanes16_combine(v);
}

inline void gemv_tq2_0_q8_k_ref(const GemvArgs& args) {
  for (uint64_t r = 0; r < args.rows; ++r) {
    const auto* w_row = reinterpret_cast<const BlockTQ2_0*>(
        static_cast<const uint8_t*>(args.w) + r * args.w_row_bytes);
    args.y[r] = gemv_tq2_0_q8_k_row_ref(w_row, static_cast<const BlockQ8_K*>(args.x), args.k);
  }
}

}  // namespace trix::kernels
