// Helpers shared by the scalar reference formats (include/trix/formats/*.h).
//
// The peers' reference quantizers (ggml-quants.c, bitnet.cpp) are C code that
// leans on behaviour C++ leaves undefined or implementation-defined: NaN and
// out-of-range float -> int conversions, lroundf of NaN, narrowing int -> int8
// stores. To be byte-compatible without UB, each such step is spelled out here
// as the exact integer result the peer produces on x86-64 (glibc, GCC/Clang),
// which is where the golden vectors come from. On ARM the peers themselves
// give different bytes for NaN inputs; TriX gives the x86 bytes everywhere.
//
// Also the formats' common prelude: the standard headers, the block structs
// and fp16 conversions every format header uses, and the contraction guard.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "trix/core/error.h"
#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"

// Floating-point contraction off for the functions between BEGIN and END: in
// C++ GCC fuses a * b + c into one FMA on FMA targets whatever the -std,
// rounding once where the peers' reference code rounds twice, which gives
// other bytes. Clang contracts only within one expression, and the format
// headers write every float operation as its own statement.
#if defined(__GNUC__) && !defined(__clang__)
#define TRIX_FP_CONTRACT_OFF_BEGIN _Pragma("GCC push_options") _Pragma("GCC optimize(\"fp-contract=off\")")
#define TRIX_FP_CONTRACT_OFF_END _Pragma("GCC pop_options")
#else
#define TRIX_FP_CONTRACT_OFF_BEGIN
#define TRIX_FP_CONTRACT_OFF_END
#endif

namespace trix::detail {

// Throws trix::Error unless n is a multiple of the block size. Quantize and
// dequantize entry points call this before touching memory, so a wrong size
// never turns into an out-of-bounds read or write.
inline void require_multiple(const char* function, size_t n, size_t block) {
  if (n % block != 0) {
    throw Error(std::string(function) + ": n = " + std::to_string(n) +
                " is not a multiple of the block size " + std::to_string(block));
  }
}

// ggml's MAX(a, b) macro, ((a) > (b) ? (a) : (b)). Not std::max or fmaxf:
// with a NaN operand it returns b, so a NaN in a block resets the running
// absolute maximum and the bytes depend on where the NaN sits. Kept as is
// because byte-compatibility includes these inputs.
inline float ggml_max(float a, float b) { return a > b ? a : b; }

// ggml's nearest_int: adds 1.5 * 2^23 and reads the low mantissa bits, which
// rounds half to even for |v| < 2^22. Outside that range (and for inf/NaN)
// the result is whatever the bits say; reproduced exactly and without UB.
inline int32_t ggml_nearest_int(float v) {
  const float biased = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &biased, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// x86-64 float -> int32 truncation (cvttss2si): NaN and values outside
// [-2^31, 2^31) give INT32_MIN (the "integer indefinite" value).
inline int32_t x86_float_to_int32(float v) {
  if (!(v >= -2147483648.0f && v < 2147483648.0f)) return INT32_MIN;
  return static_cast<int32_t>(v);
}

// glibc lroundf on x86-64: round half away from zero; NaN and values outside
// the int64 range give INT64_MIN.
inline int64_t x86_lroundf(float v) {
  if (!(v > -9223372036854775808.0f && v < 9223372036854775808.0f)) return INT64_MIN;
  // Truncate, then step away from zero when the dropped fraction is >= 0.5.
  // Both float steps are exact, so ties go away from zero as lroundf does.
  const float t = std::trunc(v);
  const float frac = v - t;
  int64_t i = static_cast<int64_t>(t);
  if (frac >= 0.5f) ++i;
  if (frac <= -0.5f) --i;
  return i;
}

// 2-bit code layouts (TQ2_0, I2_S, TRIN) come from the generated block
// structs: element e sits in byte (e / kGroupCodes) * kGroupBytes +
// e % kGroupBytes, field (e % kGroupCodes) / kGroupBytes, at code_shift(field).
template <class Block>
constexpr size_t code_byte(size_t e) {
  static_assert(Block::kCodeBits == 2);
  return (e / Block::kGroupCodes) * Block::kGroupBytes + e % Block::kGroupBytes;
}
template <class Block>
constexpr unsigned code_shift(size_t e) {
  return Block::code_shift((e % Block::kGroupCodes) / Block::kGroupBytes);
}
// Code (0..3) of element e of packed bytes laid out as Block.
template <class Block>
inline uint32_t get_code(const uint8_t* bytes, size_t e) {
  return (bytes[code_byte<Block>(e)] >> code_shift<Block>(e)) & 3u;
}
// ORs code (0..3) into a zeroed field.
template <class Block>
inline void or_code(uint8_t* bytes, size_t e, uint32_t code) {
  bytes[code_byte<Block>(e)] |= static_cast<uint8_t>((code & 3u) << code_shift<Block>(e));
}

// C's conversion of an int to a narrower signed type as GCC/Clang define it:
// keep the low bits (two's complement). Well defined in C++20.
inline int8_t wrap_to_int8(int64_t v) {
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint64_t>(v)));
}
inline int32_t wrap_to_int32(int64_t v) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v)));
}

}  // namespace trix::detail
