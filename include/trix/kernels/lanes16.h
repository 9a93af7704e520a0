// The fixed combination order of 16 lane accumulators used by the ternary
// GEMV contract (see gemv_tq2_0_q8_k.body.h). Usable from CUDA host/device.
#pragma once

#if defined(__CUDACC__)
#define TRIX_LANES16_FN __host__ __device__
#else
#define TRIX_LANES16_FN
#endif

namespace trix {

inline constexpr unsigned kLanes16 = 16;

// Butterfly: v[l] += v[l ^ 8], then ^4, ^2, ^1; returns lane 0's value.
// The xor-shuffle reduction on a GPU produces the same bits in every lane.
TRIX_LANES16_FN inline float lanes16_combine(float (&v)[16]) {
  for (unsigned m = 8; m != 0; m >>= 1) {
    float next[16];
    for (unsigned l = 0; l < 16; ++l) next[l] = v[l] + v[l ^ m];
    for (unsigned l = 0; l < 16; ++l) v[l] = next[l];
  }
  return v[0];
}

}  // namespace trix
