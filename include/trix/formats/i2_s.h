// I2_S: bitnet.cpp's ternary weights, x86 layout (the layout of the
// published BitNet-b1.58-2B-4T GGUF), read the same on every platform.
//
// A tensor of rows x cols weights (cols % 128 == 0) is stored as
//   rows * cols / 4 packed bytes, then a 32-byte trailer.
// The packed bytes are 128-weight groups of 32 bytes over the row-major
// weights; byte j of a group holds weight j in bits 7-6, j + 32 in bits 5-4,
// j + 64 in bits 3-2 and j + 96 in bits 1-0. Code c in {0, 1, 2} means c - 1.
// Trailer: bytes 0-3 are the f32 tensor scale (little-endian), bytes 4-31
// are padding (bitnet.cpp reserves them for alignment and leaves them
// unspecified; TriX writes zeros and ignores them on read).
// value = (c - 1) * scale. Row r starts at byte r * cols / 4.
// bitnet.cpp's ARM (64-weight groups) and 4-rows-per-byte x86 packings
// share the type id but are other layouts, not read by TriX (the loader
// refuses what it can detect: see trix/runtime/loader.h).
//
// quantize_i2_s gives bitnet.cpp's quantize_i2_s bytes:
//   scale = max |x| over the whole tensor (computed in double with fmax, so
//           NaN never wins; 0 for an all-zero tensor, inf if an inf is present)
//   c = 1 if |x| < 1e-6 (in double), else (x * scale > 0 ? 2 : 0)
// so values become their sign, tiny ones 0, and NaN weights -1 (code 0),
// exactly as bitnet.cpp does. The quantizer never writes code 3; readers
// decode it as c - 1 = 2 like ggml-style kernels would (no check).
//
// Activations (bitnet.cpp's quantize_row_i8_s, per token):
//   max = max(1e-5, max |x|) in double (ggml MAX: a NaN resets the running
//         max, as in bitnet.cpp);  s = float(127 / max)
//   q = nearest_int(float(x * s)), clamped to [-128, 127], where nearest_int
//   is ggml's (add 1.5 * 2^23 in float, read the low mantissa bits): round
//   half to even, as current bitnet.cpp does (its early releases used
//   round(), half away from zero; they differ only on exact .5 products).
//   A NaN product gives q = 0 (what nearest_int reads from the quiet NaN
//   hardware produces; TriX pins 0 for every NaN payload). Products of 2^22
//   or more in magnitude (only possible when a NaN reset the running max
//   after a larger element) get nearest_int's bits, as bitnet.cpp's release
//   build does; an infinite product gives -128.
// For finite input |q| <= 127.
// Floating-point contraction is off for this header's functions (GCC may
// otherwise fuse x * s + 1.5 * 2^23 into one FMA on FMA targets, rounding
// once instead of twice); popped at the end.
#pragma once

#include "trix/formats/common.h"

TRIX_FP_CONTRACT_OFF_BEGIN

namespace trix {

inline constexpr size_t kI2STrailerBytes = 32;

// Bytes of an I2_S tensor of rows x cols weights, trailer included. Throws
// trix::Error if cols % 128 != 0.
inline size_t i2_s_nbytes(size_t rows, size_t cols) {
  trix::detail::require_multiple("i2_s_nbytes (cols)", cols, BlockI2_S::kElements);
  return rows * cols / 4 + kI2STrailerBytes;
}

// The f32 scale stored after the packed weights of a rows x cols tensor.
inline float i2_s_scale(const uint8_t* data, size_t rows, size_t cols) {
  float scale;
  std::memcpy(&scale, data + (i2_s_nbytes(rows, cols) - kI2STrailerBytes), sizeof scale);
  return scale;
}

// x: rows * cols floats (row-major); out: i2_s_nbytes(rows, cols) bytes,
// every byte written. Throws trix::Error if cols % 128 != 0.
inline void quantize_i2_s(const float* x, size_t rows, size_t cols, uint8_t* out) {
  const size_t nbytes = i2_s_nbytes(rows, cols);
  const size_t n = rows * cols;
  double max = 0.0;
  for (size_t i = 0; i < n; ++i) max = std::fmax(max, std::fabs(double{x[i]}));
  const double scale = max;
  std::memset(out, 0, nbytes);
  for (size_t i = 0; i < n; ++i) {
    const double v = x[i];
    const uint32_t code = std::fabs(v) < 1e-6 ? 1u : (v * scale > 0.0 ? 2u : 0u);
    trix::detail::or_code<BlockI2_S>(out, i, code);
  }
  const float scale_f32 = static_cast<float>(scale);  // exact: max of floats
  std::memcpy(out + n / 4, &scale_f32, sizeof scale_f32);
}

// Code (0..3) of weight i of a row's packed bytes.
inline uint32_t i2_s_code(const uint8_t* row, size_t i) {
  return trix::detail::get_code<BlockI2_S>(row, i);
}

// data: i2_s_nbytes(rows, cols) bytes; y: rows * cols floats,
// y = (c - 1) * scale. Throws trix::Error if cols % 128 != 0.
inline void dequantize_i2_s(const uint8_t* data, size_t rows, size_t cols, float* y) {
  const float scale = i2_s_scale(data, rows, cols);
  const size_t n = rows * cols;
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(static_cast<int32_t>(i2_s_code(data, i)) - 1) * scale;
  }
}

// Result of the per-token activation quantizer.
struct I8Activation {
  float scale;  // s: q ~ x * s, so x ~ q / s
  int32_t sum;  // sum of the codes (for kernels that use unsigned weight codes)
};

// x: n floats; q: n int8 codes. Any n (including 0, which gives s = 127e5).
inline I8Activation quantize_row_i8_s(const float* x, int8_t* q, size_t n) {
  double max = 0.00001;
  for (size_t i = 0; i < n; ++i) {
    const double a = std::fabs(double{x[i]});
    max = max > a ? max : a;  // bitnet.cpp's MAX: a NaN resets it
  }
  const float s = static_cast<float>(127.0 / max);
  int32_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const float p = x[i] * s;
    int32_t v = std::isnan(p) ? 0 : trix::detail::ggml_nearest_int(p);
    v = v > 127 ? 127 : (v < -128 ? -128 : v);
    q[i] = static_cast<int8_t>(v);
    sum += v;
  }
  return {s, sum};
}

// Dot product of one I2_S row (row = data + r * cols / 4, n = cols weights,
// n % 128 == 0, else trix::Error) with n int8 activation codes.
//
// Float contract (every backend reproduces it bit for bit):
//   isum   = sum_i (c_i - 1) * q_i          exact int32 (|isum| <= 256 n)
//   result = float(isum) / act_scale * w_scale
// i.e. bitnet.cpp's epilogue (dot - act_sum) / act_scale * scale, one
// rounding for the conversion (exact while |isum| < 2^24), then a float
// division, then a float multiplication.
inline float vec_dot_i2_s_i8(const uint8_t* row, float w_scale, const int8_t* q, float act_scale,
                             size_t n) {
  trix::detail::require_multiple("vec_dot_i2_s_i8", n, BlockI2_S::kElements);
  int32_t isum = 0;
  for (size_t i = 0; i < n; ++i) isum += (static_cast<int32_t>(i2_s_code(row, i)) - 1) * q[i];
  return static_cast<float>(isum) / act_scale * w_scale;
}

// The traits table's forms (trix/formats/traits.h), where an activation row
// is an I8_S row: n codes, then its f32 scale (the 4-byte trailer).
inline void quantize_activations_i8_s(const float* x, uint8_t* out, size_t n) {
  const float s = quantize_row_i8_s(x, reinterpret_cast<int8_t*>(out), n).scale;
  std::memcpy(out + n, &s, sizeof s);
}
// vec_dot_i2_s_i8 at tensor scale 1 (the caller applies the tensor's).
inline float vec_dot_i2_s_i8_s(const uint8_t* row, const uint8_t* act, size_t n) {
  float act_scale;
  std::memcpy(&act_scale, act + n, sizeof act_scale);
  return vec_dot_i2_s_i8(row, 1.0f, reinterpret_cast<const int8_t*>(act), act_scale, n);
}
// Row values at tensor scale 1 ((code - 1), exact); n % 128 == 0.
inline void dequantize_row_i2_s(const uint8_t* row, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = static_cast<float>(static_cast<int32_t>(i2_s_code(row, i)) - 1);
}

}  // namespace trix

TRIX_FP_CONTRACT_OFF_END
