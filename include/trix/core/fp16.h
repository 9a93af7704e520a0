// IEEE half and bfloat16 conversions, bit-identical to ggml's (round to
// nearest even; F16C's _cvtss_sh gives the same bits as this scalar code).
// Usable from CUDA and Metal-shim code as well: no library calls.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TRIX_HD __host__ __device__
#else
#define TRIX_HD
#endif

namespace trix {

TRIX_HD inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

TRIX_HD inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Half -> float, exact for every input (subnormals, inf, NaN payloads).
TRIX_HD inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1f) {  // inf, or NaN made quiet as F16C does
    return bits_float(sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0u));
  }
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (man << 13));
  if (man == 0) return bits_float(sign);
  // Subnormal half: value = man * 2^-24, exactly representable in float.
  const float mag = static_cast<float>(man) * bits_float(0x33800000u);  // 2^-24
  return bits_float(sign | float_bits(mag));
}

// Float -> half with round-to-nearest-even; overflow gives inf, NaN stays NaN
// (quiet, payload truncated), as F16C and ggml's fallback do.
TRIX_HD inline uint16_t fp32_to_fp16(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) {  // NaN: keep the top payload bits, force quiet
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x1ffu));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs < 0x38800000u) {
    // Result is a half subnormal (or zero): round abs * 2^24 to an integer.
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to 0
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  // Normal: rebias the exponent and round the 13 dropped mantissa bits.
  uint32_t r = abs - 0x38000000u;  // exponent bias 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return static_cast<uint16_t>(sign | (r >> 13));
}

TRIX_HD inline float bf16_to_fp32(uint16_t b) {
  return bits_float(static_cast<uint32_t>(b) << 16);
}

// Float -> bfloat16 as ggml_compute_fp32_to_bf16: NaN forced quiet, otherwise
// round to nearest even.
TRIX_HD inline uint16_t fp32_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((u >> 16) | 64u);
  }
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

}  // namespace trix
