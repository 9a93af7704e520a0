// Q3_K: ggml's 3-bit k-quant. 256 elements per super-block: uint8
// hmask[32] (high bits), uint8 qs[64] (low 2 bits), uint8 scales[12]
// (sixteen 6-bit scales, stored + 32), f16 d, 110 bytes.
//
// Layout (ggml's): element e has low bits (qs[32 * (e / 128) + e % 32] >>
// 2 * ((e % 128) / 32)) & 3 (the Q2_K layout) and high bit e / 32 of
// hmask[e % 32]; its code is low - 4 when that bit is clear, low when set
// (-4..3). Sub-block s = e / 16 has the scale (6 bits, minus 32):
//   low 4 bits:  s < 8 ? scales[s] & 15 : scales[s - 8] >> 4
//   high 2 bits: (scales[8 + s % 4] >> 2 * (s / 4)) & 3
// value = (d * (sc_s - 32)) * code, as ggml's dequantize_row_q3_K.
//
// quantize_row_q3_k gives the bytes of ggml's quantize_row_q3_K_ref: per 16
// elements make_q3_quants(16, 4, x, L, do_rmse = true) (an x^2-weighted
// least-squares fit, up to 5 passes of single-code changes), the 16 scales
// to 6 signed bits against the one of largest magnitude (d = max / -32),
// the codes requantized against the stored scales. ggml's float operations
// in ggml's order, one rounding each (no fused multiply-add).
//
// vec_dot_q3_k_q8_k, the float contract:
//   acc = 0.0f
//   for each block b in order:
//     isum = sum_s (sc_s - 32) * (sum_{i in s} code_i * a[b].qs[i])   exact, |.| < 2^22
//     acc  = fma(float(isum), fp16_to_fp32(w[b].d) * a[b].d, acc)
//   return acc
#pragma once

#include "trix/formats/common.h"
#include "trix/formats/q2_k.h"
#include "trix/formats/q8_k.h"

TRIX_FP_CONTRACT_OFF_BEGIN

namespace trix {

namespace detail {

// Code of element e (0..255) of a Q3_K block: -4..3.
inline int32_t q3_k_code(const BlockQ3_K& blk, size_t e) {
  const int32_t low = (blk.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
  return ((blk.hmask[e % 32] >> (e / 32)) & 1) ? low : low - 4;
}

// Scale of sub-block s (0..15) of a Q3_K block: -32..31.
inline int32_t q3_k_scale(const uint8_t* scales, size_t s) {
  const int32_t low = s < 8 ? (scales[s] & 15) : (scales[s - 8] >> 4);
  const int32_t high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// The contribution w * x * l of one element to make_q3_quants' sums.
inline float q3_wxl(float w, float x, int32_t l) {
  const float wx = w * x;
  return wx * static_cast<float>(l);
}
inline float q3_wll(float w, int32_t l) {
  const float wl = w * static_cast<float>(l);
  return wl * static_cast<float>(l);
}

inline int32_t clamp_q3(int32_t l) { return l < -4 ? -4 : (l > 3 ? 3 : l); }

// ggml's make_q3_quants(16, 4, x, L, do_rmse = true): L gets codes 0..7
// (code + 4); returns the scale.
inline float q3_k_make_q3_quants(const float* x, int8_t* L) {
  constexpr int32_t kN = 16;
  float max = 0.0f;
  float amax = 0.0f;
  for (int32_t i = 0; i < kN; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // ggml's GROUP_MAX_EPS: all zero
    for (int32_t i = 0; i < kN; ++i) L[i] = 0;
    return 0.0f;
  }
  const float iscale = -4.0f / max;
  float sumlx = 0.0f;
  float suml2 = 0.0f;
  for (int32_t i = 0; i < kN; ++i) {
    const int32_t l = clamp_q3(ggml_nearest_int(iscale * x[i]));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx = sumlx + q3_wxl(w, x[i], l);
    suml2 = suml2 + q3_wll(w, l);
  }
  for (int32_t itry = 0; itry < 5; ++itry) {
    int32_t n_changed = 0;
    for (int32_t i = 0; i < kN; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - q3_wxl(w, x[i], L[i]);
      if (slx > 0.0f) {
        float sl2 = suml2 - q3_wll(w, L[i]);
        const float xs = x[i] * sl2;
        const int32_t new_l = clamp_q3(ggml_nearest_int(xs / slx));
        if (new_l != L[i]) {
          slx = slx + q3_wxl(w, x[i], new_l);
          sl2 = sl2 + q3_wll(w, new_l);
          const float lhs_a = slx * slx;
          const float lhs = lhs_a * suml2;
          const float rhs_a = sumlx * sumlx;
          const float rhs = rhs_a * sl2;
          if (sl2 > 0.0f && lhs > rhs) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (n_changed == 0) break;
  }
  for (int32_t i = 0; i < kN; ++i) L[i] = static_cast<int8_t>(L[i] + 4);
  return sumlx / suml2;
}

}  // namespace detail

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
inline void quantize_row_q3_k(const float* x, BlockQ3_K* y, size_t n) {
  constexpr size_t kQK = BlockQ3_K::kElements;
  trix::detail::require_multiple("quantize_row_q3_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    BlockQ3_K& out = y[b];
    int8_t L[kQK];
    float scales[16];
    float max_scale = 0.0f;
    float amax = 0.0f;
    for (size_t s = 0; s < 16; ++s) {
      scales[s] = detail::q3_k_make_q3_quants(x + 16 * s, L + 16 * s);
      const float a = std::fabs(scales[s]);
      if (a > amax) {
        amax = a;
        max_scale = scales[s];
      }
    }
    for (auto& v : out.scales) v = 0;
    if (max_scale != 0.0f) {
      const float iscale = -32.0f / max_scale;
      for (size_t s = 0; s < 16; ++s) {
        // ggml stores nearest_int in an int8_t, clamps to -32..31, adds 32.
        int32_t l = trix::detail::wrap_to_int8(trix::detail::ggml_nearest_int(iscale * scales[s]));
        l = (l < -32 ? -32 : (l > 31 ? 31 : l)) + 32;
        if (s < 8) {
          out.scales[s] = static_cast<uint8_t>(l & 15);
        } else {
          out.scales[s - 8] |= static_cast<uint8_t>((l & 15) << 4);
        }
        out.scales[s % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (s / 4)));
      }
      out.d = fp32_to_fp16(1.0f / iscale);
    } else {
      out.d = fp32_to_fp16(0.0f);
    }
    for (size_t s = 0; s < 16; ++s) {
      const float d = fp16_to_fp32(out.d) * static_cast<float>(detail::q3_k_scale(out.scales, s));
      if (d == 0.0f) continue;  // keep the codes of the search, as ggml
      for (size_t i = 16 * s; i < 16 * s + 16; ++i) {
        L[i] = static_cast<int8_t>(detail::clamp_q3(trix::detail::ggml_nearest_int(x[i] / d)) + 4);
      }
    }
    uint8_t low[kQK];
    for (auto& h : out.hmask) h = 0;
    for (size_t e = 0; e < kQK; ++e) {
      const auto l = static_cast<uint8_t>(L[e]);
      if (l > 3) out.hmask[e % 32] |= static_cast<uint8_t>(1u << (e / 32));
      low[e] = static_cast<uint8_t>(l > 3 ? l - 4 : l);
    }
    detail::pack_2bit_codes(low, out.qs);
  }
}

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q3_k(const BlockQ3_K* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ3_K::kElements;
  trix::detail::require_multiple("dequantize_row_q3_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (size_t s = 0; s < 16; ++s) {
      const float dl = d * static_cast<float>(detail::q3_k_scale(x[b].scales, s));
      for (size_t i = 16 * s; i < 16 * s + 16; ++i) {
        *y++ = dl * static_cast<float>(detail::q3_k_code(x[b], i));
      }
    }
  }
}

// Dot product of a Q3_K row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error); the contract in the file comment.
inline float vec_dot_q3_k_q8_k(const BlockQ3_K* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = BlockQ3_K::kElements;
  trix::detail::require_multiple("vec_dot_q3_k_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (size_t s = 0; s < 16; ++s) {
      int32_t dot = 0;
      for (size_t i = 16 * s; i < 16 * s + 16; ++i) dot += detail::q3_k_code(w[b], i) * int32_t{a[b].qs[i]};
      isum += detail::q3_k_scale(w[b].scales, s) * dot;
    }
    acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w[b].d) * a[b].d, acc);
  }
  return acc;
}

}  // namespace trix

TRIX_FP_CONTRACT_OFF_END
