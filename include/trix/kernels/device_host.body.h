// What a device body (trix/kernels/*.body.h) needs from its including
// context, for C++ and CUDA (trix-gen writes the MSL equivalent into each
// .metal source). Included inside the namespace that holds one body, after
// <cstdint>, "trix/core/fp16.h" and <cmath>, with TRIX_FN (function
// qualifiers: __host__ __device__ under nvcc) and TRIX_GLOBAL (empty) defined;
// the includer then defines the body's layout constants and includes it.

using trix_u8 = uint8_t;
using trix_i8 = int8_t;
using trix_u16 = uint16_t;
using trix_u32 = uint32_t;
using trix_u64 = uint64_t;
TRIX_FN inline float trix_f16_bits_to_f32(trix_u32 h) { return ::trix::fp16_to_fp32(static_cast<uint16_t>(h)); }
TRIX_FN inline float trix_bits_to_f32(trix_u32 u) { return ::trix::bits_float(u); }
TRIX_FN inline trix_u32 trix_f32_to_bits(float f) { return ::trix::float_bits(f); }
TRIX_FN inline float trix_fma(float a, float b, float c) { return ::fmaf(a, b, c); }
// A product rounded on its own: nvcc would otherwise fuse a * b + c into an
// fma (-fmad=true), which rounds once.
TRIX_FN inline float trix_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
// Round to nearest, ties to even (the default rounding mode on the host).
TRIX_FN inline float trix_rint(float x) { return ::rintf(x); }
TRIX_FN inline float trix_sqrt(float x) { return ::sqrtf(x); }
TRIX_FN inline float trix_exp(float x) { return ::expf(x); }
// Per-thread memory needs no address space outside MSL.
#define TRIX_THREAD

#include "trix/kernels/device_common.body.h"
