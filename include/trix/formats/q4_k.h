// Q4_K: ggml's 4-bit k-quant. 256 elements per super-block: f16 d, f16 dmin,
// uint8 scales[12] (eight 6-bit sub-block scales and eight 6-bit mins),
// uint8 qs[128] (4-bit codes), 144 bytes.
//
// Layout (ggml's): the block is 4 chunks of 64 elements; chunk c uses
// qs[32c .. 32c+32): element 64c + l is the low nibble of qs[32c + l], element
// 64c + 32 + l the high nibble. Sub-block s (32 elements, s = 2c or 2c + 1)
// has scale sc_s and min m_s (6 bits each) from scales[]:
//   s < 4:  sc = scales[s] & 63,                       m = scales[s + 4] & 63
//   s >= 4: sc = (scales[s+4] & 15) | (scales[s-4] >> 6) << 4,
//           m  = (scales[s+4] >> 4) | (scales[s]   >> 6) << 4
// value = (d * sc) * q - (dmin * m), each product rounded to float, then the
// difference rounded (no fused multiply-add): ggml's dequantize_row_q4_K.
//
// quantize_row_q4_k gives the bytes of ggml's quantize_row_q4_K_ref (no
// importance weights): per 32 elements a weighted least-squares search for
// scale and min (make_qkx2_quants, 21 trial scales), the 8 scales and mins
// quantized to 6 bits against d = max_scale / 63 and dmin = max_min / 63,
// then the codes requantized against the stored values. Float operations in
// ggml's order, one rounding each (no fused multiply-add); checked against
// ggml's golden bytes.
// Needs floating-point contraction off across statements: GCC fuses a * b + c
// into an FMA on FMA targets in C++ whatever the -std, which gives other
// bytes, so this header turns contraction off for its own functions (the
// pragma is popped at the end; Clang only contracts within one expression,
// and every float operation here is its own statement).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/q8_k.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

namespace trix {

namespace detail {

struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};

// The 6-bit scale and min of sub-block s (0..7) of a Q4_K block.
inline ScaleMin q4_k_scale_min(const uint8_t* scales, size_t s) {
  if (s < 4) {
    return {static_cast<uint8_t>(scales[s] & 63), static_cast<uint8_t>(scales[s + 4] & 63)};
  }
  return {static_cast<uint8_t>((scales[s + 4] & 15) | ((scales[s - 4] >> 6) << 4)),
          static_cast<uint8_t>((scales[s + 4] >> 4) | ((scales[s] >> 6) << 4))};
}

// Code of element e (0..255) of a Q4_K block: 0..15.
inline int32_t q4_k_code(const BlockQ4_K& blk, size_t e) {
  const size_t chunk = e / 64;
  const size_t l = e % 64;
  const uint8_t byte = blk.qs[32 * chunk + (l % 32)];
  return l < 32 ? (byte & 15) : (byte >> 4);
}

// ggml's make_qkx2_quants(32, 15, x, weights, L, &the_min, Laux, -1, 0.1,
// 20, use_mad = false). Returns the scale and sets *neg_min to -min (>= 0).
// Every float operation is a separate statement: no fma contraction.
inline float q4_k_make_qkx2_quants(const float* x, const float* weights, uint8_t* L, float* neg_min) {
  constexpr int32_t kN = 32;
  constexpr int32_t kNmax = 15;
  constexpr float kRmin = -1.0f;
  constexpr float kRdelta = 0.1f;
  constexpr int32_t kNstep = 20;
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int32_t i = 1; i < kN; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w = sum_w + w;
    const float wx = w * x[i];
    sum_x = sum_x + wx;
  }
  if (min > 0.0f) min = 0.0f;
  if (max == min) {
    for (int32_t i = 0; i < kN; ++i) L[i] = 0;
    *neg_min = -min;
    return 0.0f;
  }
  const auto code = [&](float iscale, float xi, float lo) {
    const float shifted = xi - lo;
    const int32_t l = ggml_nearest_int(iscale * shifted);
    return static_cast<uint8_t>(l < 0 ? 0 : (l > kNmax ? kNmax : l));
  };
  // sum_i w_i * (s * l_i + m - x_i)^2, in ggml's order.
  const auto error_of = [&](const uint8_t* codes, float s, float m) {
    float err = 0.0f;
    for (int32_t i = 0; i < kN; ++i) {
      const float sl = s * static_cast<float>(codes[i]);
      const float slm = sl + m;
      float diff = slm - x[i];
      diff = diff * diff;
      const float wd = weights[i] * diff;
      err = err + wd;
    }
    return err;
  };
  float iscale = static_cast<float>(kNmax) / (max - min);
  float scale = 1.0f / iscale;
  for (int32_t i = 0; i < kN; ++i) L[i] = code(iscale, x[i], min);
  float best_error = error_of(L, scale, min);
  uint8_t Laux[kN];
  for (int32_t is = 0; is <= kNstep; ++is) {
    const float step = kRdelta * static_cast<float>(is);
    const float num = (kRmin + step) + static_cast<float>(kNmax);
    iscale = num / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int32_t i = 0; i < kN; ++i) {
      Laux[i] = code(iscale, x[i], min);
      const float l = static_cast<float>(Laux[i]);
      const float w = weights[i];
      const float wl = w * l;
      sum_l = sum_l + wl;
      const float wll = wl * l;
      sum_l2 = sum_l2 + wll;
      const float wlx = wl * x[i];
      sum_xl = sum_xl + wlx;
    }
    const float a = sum_w * sum_l2;
    const float c = sum_l * sum_l;
    const float D = a - c;
    if (D > 0.0f) {
      const float p = sum_w * sum_xl;
      const float q = sum_x * sum_l;
      float this_scale = (p - q) / D;
      const float r = sum_l2 * sum_x;
      const float t = sum_l * sum_xl;
      float this_min = (r - t) / D;
      if (this_min > 0.0f) {
        this_min = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      const float cur_error = error_of(Laux, this_scale, this_min);
      if (cur_error < best_error) {
        for (int32_t i = 0; i < kN; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

}  // namespace detail

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
// Non-finite input gives the bytes ggml's arithmetic gives on x86 (the
// rounding helper reads float bits, so nothing is undefined), not a
// meaningful block.
inline void quantize_row_q4_k(const float* x, BlockQ4_K* y, size_t n) {
  constexpr size_t kQK = BlockQ4_K::kElements;
  trix::detail::require_multiple("quantize_row_q4_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    BlockQ4_K& out = y[b];
    uint8_t L[kQK];
    float scales[8];
    float mins[8];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (size_t s = 0; s < 8; ++s) {
      const float* xs = x + 32 * s;
      float sum_x2 = 0.0f;
      for (size_t l = 0; l < 32; ++l) {
        const float sq = xs[l] * xs[l];
        sum_x2 = sum_x2 + sq;
      }
      const float av_x = std::sqrt(sum_x2 / 32.0f);
      float weights[32];
      for (size_t l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
      scales[s] = detail::q4_k_make_qkx2_quants(xs, weights, L + 32 * s, &mins[s]);
      if (scales[s] > max_scale) max_scale = scales[s];
      if (mins[s] > max_min) max_min = mins[s];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (auto& v : out.scales) v = 0;
    for (size_t s = 0; s < 8; ++s) {
      // ggml stores nearest_int into a uint8_t, then takes min(63, .).
      auto ls = static_cast<uint8_t>(trix::detail::ggml_nearest_int(inv_scale * scales[s]));
      auto lm = static_cast<uint8_t>(trix::detail::ggml_nearest_int(inv_min * mins[s]));
      ls = ls < 63 ? ls : uint8_t{63};
      lm = lm < 63 ? lm : uint8_t{63};
      if (s < 4) {
        out.scales[s] = ls;
        out.scales[s + 4] = lm;
      } else {
        out.scales[s + 4] = static_cast<uint8_t>((ls & 15) | ((lm & 15) << 4));
        out.scales[s - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        out.scales[s] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    out.d = fp32_to_fp16(max_scale / 63.0f);
    out.dmin = fp32_to_fp16(max_min / 63.0f);
    for (size_t s = 0; s < 8; ++s) {
      const detail::ScaleMin sm = trix::detail::q4_k_scale_min(out.scales, s);
      const float d = fp16_to_fp32(out.d) * static_cast<float>(sm.scale);
      if (d == 0.0f) continue;  // keep the codes of the search, as ggml
      const float dm = fp16_to_fp32(out.dmin) * static_cast<float>(sm.min);
      for (size_t i = 32 * s; i < 32 * s + 32; ++i) {
        const float shifted = x[i] + dm;
        const int32_t l = trix::detail::ggml_nearest_int(shifted / d);
        L[i] = static_cast<uint8_t>(l < 0 ? 0 : (l > 15 ? 15 : l));
      }
    }
    for (size_t chunk = 0; chunk < 4; ++chunk) {
      for (size_t l = 0; l < 32; ++l) {
        out.qs[32 * chunk + l] = static_cast<uint8_t>(L[64 * chunk + l] | (L[64 * chunk + 32 + l] << 4));
      }
    }
  }
}

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q4_k(const BlockQ4_K* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ4_K::kElements;
  trix::detail::require_multiple("dequantize_row_q4_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    const float dmin = fp16_to_fp32(x[b].dmin);
    for (size_t s = 0; s < 8; ++s) {
      const detail::ScaleMin sm = trix::detail::q4_k_scale_min(x[b].scales, s);
      const float ds = d * static_cast<float>(sm.scale);
      const float ms = dmin * static_cast<float>(sm.min);
      for (size_t i = 0; i < 32; ++i) {
        const float scaled = ds * static_cast<float>(trix::detail::q4_k_code(x[b], 32 * s + i));
        *y++ = scaled - ms;  // separate statement: never contracted into an fma
      }
    }
  }
}

// Dot product of a Q4_K row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error).
//
// Float contract (every backend reproduces it bit for bit):
//   acc = 0.0f
//   for each block b in order:
//     isum_q = sum_s sc_s * (sum_{i in s} q_i * a[b].qs[i])   exact int32, < 2^25
//     isum_m = sum_s m_s  * (sum_{i in s} a[b].qs[i])         exact int32, < 2^21
//              (the inner sum is a[b].bsums[2s] + a[b].bsums[2s+1])
//     acc = fma(float(isum_q),  fp16_to_fp32(w[b].d)    * a[b].d, acc)
//     acc = fma(float(-isum_m), fp16_to_fp32(w[b].dmin) * a[b].d, acc)
//   return acc
// float(isum_q) may round (|isum_q| can exceed 2^24); that rounding is part
// of the contract. The inner sums use the activation codes, not bsums, so a
// Q8_K block with inconsistent bsums still gives the reference value.
inline float vec_dot_q4_k_q8_k(const BlockQ4_K* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = BlockQ4_K::kElements;
  static_assert(BlockQ8_K::kElements == kQK);
  trix::detail::require_multiple("vec_dot_q4_k_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum_q = 0;
    int32_t isum_m = 0;
    for (size_t s = 0; s < 8; ++s) {
      const detail::ScaleMin sm = trix::detail::q4_k_scale_min(w[b].scales, s);
      int32_t dot = 0;
      int32_t sum = 0;
      for (size_t i = 32 * s; i < 32 * s + 32; ++i) {
        dot += trix::detail::q4_k_code(w[b], i) * a[b].qs[i];
        sum += a[b].qs[i];
      }
      isum_q += int32_t{sm.scale} * dot;
      isum_m += int32_t{sm.min} * sum;
    }
    acc = std::fma(static_cast<float>(isum_q), fp16_to_fp32(w[b].d) * a[b].d, acc);
    acc = std::fma(static_cast<float>(-isum_m), fp16_to_fp32(w[b].dmin) * a[b].d, acc);
  }
  return acc;
}

}  // namespace trix

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
