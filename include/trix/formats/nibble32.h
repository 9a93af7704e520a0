// The codec shared by ggml's 32-element nibble formats Q4_0, Q4_1, Q5_0 and
// Q5_1 (trix/formats/q4_0.h, q4_1.h, q5_0.h, q5_1.h are thin wrappers).
//
// Layout (ggml's): element j (0..15) sits in the low nibble of qs[j],
// element j + 16 in the high nibble of qs[j]; the 5-bit formats keep the
// fifth bit of element j in bit j of qh (a little-endian u32). With q the
// code (0..15 or 0..31):
//   Q4_0 / Q5_0 ("symmetric"):   x = float(q - 8 or q - 16) * d
//   Q4_1 / Q5_1 ("with minimum"): x = float(q) * d + m   (no fused multiply-add)
// as ggml's dequantize_row_q{4,5}_{0,1}.
//
// Quantizers, byte for byte ggml's quantize_row_q{4,5}_{0,1}_ref:
//   symmetric: max = the value of largest |x| (first on ties, strict <);
//              d = max / -8 (-16); id = d != 0 ? 1 / d : 0;
//              q = min(15 (31), int8(x * id + 8.5 (16.5)))
//   minimum:   min, max over the block (from +-FLT_MAX); d = (max - min) /
//              15 (31); id as above; m = min;
//              Q4_1: q = min(15, int8((x - min) * id + 0.5))
//              Q5_1: q = uint8((x - min) * id + 0.5)
// where int8(v) / uint8(v) is C's float -> narrow integer conversion as x86
// does it (truncate to int32 with cvttss2si, keep the low bits). For finite
// input the truncated value is in range; NaN gives the x86 bytes.
//
// Dot with Q8_0 activations (trix/formats/q8_0.h), the float contract:
//   acc = 0.0f
//   for each block b in order:
//     isum = sum_j c_j * a[b].qs[j]   c_j = q - 8 / q - 16 (symmetric) or q
//     acc  = fma(float(isum), fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d), acc)
//     with minimum only:
//       asum = sum_j a[b].qs[j]
//       acc  = fma(float(asum), fp16_to_fp32(w[b].m) * fp16_to_fp32(a[b].d), acc)
//   return acc
// Every int -> float conversion is exact (|isum| <= 32 * 31 * 128 < 2^24).
// ggml pairs the minimum formats with Q8_1 activations (whose per-block
// d * sum(a) stands in for asum); TriX keeps Q8_0 activations for all four
// and computes the same min term from the codes, one activation format less.
#pragma once

#include "trix/formats/common.h"

TRIX_FP_CONTRACT_OFF_BEGIN

namespace trix::detail {

// Compile-time description of one nibble format.
template <class Block, unsigned kBits, bool kHasMin>
struct Nibble32 {
  static constexpr size_t kQK = Block::kElements;
  static_assert(kQK == 32 && (kBits == 4 || kBits == 5));
  static constexpr int32_t kMaxCode = (1 << kBits) - 1;
  // Symmetric formats store q = value / d + 2^(bits-1).
  static constexpr int32_t kOffset = kHasMin ? 0 : (1 << (kBits - 1));

  static uint32_t high_bits(const Block& blk) {
    if constexpr (kBits == 5) {
      uint32_t qh;
      std::memcpy(&qh, blk.qh, sizeof qh);
      return qh;
    } else {
      return 0;
    }
  }

  // Code of element j (0..31) given the block's high bits.
  static int32_t code(const Block& blk, uint32_t qh, size_t j) {
    const uint8_t byte = blk.qs[j % 16];
    int32_t q = j < 16 ? (byte & 15) : (byte >> 4);
    if constexpr (kBits == 5) q |= static_cast<int32_t>((qh >> j) & 1u) << 4;
    return q;
  }

  // C's (int8_t) / (uint8_t) conversion of a float on x86, widened back.
  static int32_t narrow(float v) {
    const int32_t t = x86_float_to_int32(v);
    if constexpr (kHasMin && kBits == 5) {
      return static_cast<uint8_t>(static_cast<uint32_t>(t));
    } else {
      return wrap_to_int8(t);
    }
  }

  static void quantize(const char* function, const float* x, Block* y, size_t n) {
    require_multiple(function, n, kQK);
    for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
      Block& out = y[b];
      float d = 0.0f;
      float lo = 0.0f;
      float bias = 0.0f;  // added before truncation (round half up)
      if constexpr (kHasMin) {
        float min = 3.40282347e38f;
        float max = -3.40282347e38f;
        for (size_t j = 0; j < kQK; ++j) {
          if (x[j] < min) min = x[j];
          if (x[j] > max) max = x[j];
        }
        const float range = max - min;
        d = range / static_cast<float>(kMaxCode);
        lo = min;
        bias = 0.5f;
        out.m = fp32_to_fp16(min);
      } else {
        float amax = 0.0f;
        float max = 0.0f;
        for (size_t j = 0; j < kQK; ++j) {
          if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
          }
        }
        d = max / static_cast<float>(-kOffset);
        bias = static_cast<float>(kOffset) + 0.5f;
      }
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      out.d = fp32_to_fp16(d);
      uint32_t qh = 0;
      for (size_t j = 0; j < kQK / 2; ++j) {
        uint8_t q[2];
        for (size_t h = 0; h < 2; ++h) {
          float v = x[j + 16 * h];
          if constexpr (kHasMin) v = v - lo;
          const float scaled = v * id;
          int32_t c = narrow(scaled + bias);
          if constexpr (!(kHasMin && kBits == 5)) c = c < kMaxCode ? c : kMaxCode;
          q[h] = static_cast<uint8_t>(static_cast<uint32_t>(c));
          if constexpr (kBits == 5) qh |= static_cast<uint32_t>((q[h] >> 4) & 1u) << (j + 16 * h);
        }
        out.qs[j] = static_cast<uint8_t>((q[0] & (kBits == 5 ? 15 : 255)) | (q[1] << 4));
      }
      if constexpr (kBits == 5) std::memcpy(out.qh, &qh, sizeof qh);
    }
  }

  static void dequantize(const char* function, const Block* x, float* y, size_t n) {
    require_multiple(function, n, kQK);
    for (size_t b = 0; b < n / kQK; ++b) {
      const float d = fp16_to_fp32(x[b].d);
      const uint32_t qh = high_bits(x[b]);
      for (size_t j = 0; j < kQK; ++j) {
        const float scaled = static_cast<float>(code(x[b], qh, j) - kOffset) * d;
        if constexpr (kHasMin) {
          *y++ = scaled + fp16_to_fp32(x[b].m);  // separate statement: never an fma
        } else {
          *y++ = scaled;
        }
      }
    }
  }

  static float vec_dot_q8_0(const char* function, const Block* w, const BlockQ8_0* a, size_t n) {
    static_assert(BlockQ8_0::kElements == kQK);
    require_multiple(function, n, kQK);
    float acc = 0.0f;
    for (size_t b = 0; b < n / kQK; ++b) {
      const uint32_t qh = high_bits(w[b]);
      int32_t isum = 0;
      int32_t asum = 0;
      for (size_t j = 0; j < kQK; ++j) {
        isum += (code(w[b], qh, j) - kOffset) * int32_t{a[b].qs[j]};
        asum += a[b].qs[j];
      }
      const float da = fp16_to_fp32(a[b].d);
      acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w[b].d) * da, acc);
      if constexpr (kHasMin) acc = std::fma(static_cast<float>(asum), fp16_to_fp32(w[b].m) * da, acc);
    }
    return acc;
  }
};

}  // namespace trix::detail

// The codec convention's entry points of one nibble format (used once per
// format header, trix/formats/q4_0.h ...):
//   quantize_row_<name>(const float*, Block*, n)     n % 32 == 0, else trix::Error
//   dequantize_row_<name>(const Block*, float*, n)
//   vec_dot_<name>_q8_0(const Block*, const BlockQ8_0*, n)
#define TRIX_NIBBLE32_CODEC(name, Block, bits, has_min)                                     \
  namespace trix {                                                                          \
  inline void quantize_row_##name(const float* x, Block* y, size_t n) {                     \
    detail::Nibble32<Block, bits, has_min>::quantize("quantize_row_" #name, x, y, n);       \
  }                                                                                         \
  inline void dequantize_row_##name(const Block* x, float* y, size_t n) {                   \
    detail::Nibble32<Block, bits, has_min>::dequantize("dequantize_row_" #name, x, y, n);   \
  }                                                                                         \
  inline float vec_dot_##name##_q8_0(const Block* w, const BlockQ8_0* a, size_t n) {        \
    return detail::Nibble32<Block, bits, has_min>::vec_dot_q8_0("vec_dot_" #name "_q8_0", w, a, n); \
  }                                                                                         \
  }  // namespace trix

TRIX_FP_CONTRACT_OFF_END
