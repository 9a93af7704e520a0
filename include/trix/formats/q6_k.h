// Q6_K: ggml's 6-bit k-quant. 256 elements per super-block: uint8 ql[128]
// (low 4 bits), uint8 qh[64] (high 2 bits), int8 scales[16] (one per 16
// elements), f16 d; 210 bytes.
//
// Layout (ggml's): the block is 2 chunks of 128 elements; chunk c uses
// ql[64c .. 64c+64) and qh[32c .. 32c+32). For l < 32, element
//   128c +      l: low nibble of ql[64c + l],       qh bits 0-1 of qh[32c + l]
//   128c + 32 + l: low nibble of ql[64c + 32 + l],  qh bits 2-3
//   128c + 64 + l: high nibble of ql[64c + l],      qh bits 4-5
//   128c + 96 + l: high nibble of ql[64c + 32 + l], qh bits 6-7
// code q = (low | high << 4) - 32 in [-32, 31]; element e uses scales[e / 16].
// value = (d * sc) * q, each product rounded to float: ggml's
// dequantize_row_q6_K.
//
// quantize_row_q6_k gives the bytes of ggml's quantize_row_q6_K_ref (no
// importance weights): per 16 elements a least-squares scale search
// (make_qx_quants, rmse_type 1, 19 trial scales), then the 16 scales
// quantized to int8 against d = max_scale / -128, then the codes
// requantized against the stored scales. The float operations are done in
// ggml's order, one rounding each (no fused multiply-add), which is what
// makes the bytes equal; checked against ggml's golden bytes.
// Needs floating-point contraction off across statements: GCC fuses a * b + c
// into an FMA on FMA targets in C++ whatever the -std, which gives other
// bytes, so this header turns contraction off for its own functions (the
// pragma is popped at the end; Clang only contracts within one expression,
// and every float operation here is its own statement).
#pragma once

#include "trix/formats/common.h"
#include "trix/formats/q8_k.h"

TRIX_FP_CONTRACT_OFF_BEGIN

namespace trix {

namespace detail {

// Code of element e (0..255) of a Q6_K block: -32..31.
inline int32_t q6_k_code(const BlockQ6_K& blk, size_t e) {
  const size_t chunk = e / 128;
  const size_t group = (e % 128) / 32;  // which 2-bit field of qh, which nibble of ql
  const size_t l = e % 32;
  const uint8_t low_byte = blk.ql[64 * chunk + 32 * (group & 1) + l];
  const int32_t low = group < 2 ? (low_byte & 15) : (low_byte >> 4);
  const int32_t high = (blk.qh[32 * chunk + l] >> (2 * group)) & 3;
  return (low | (high << 4)) - 32;
}

// ggml's make_qx_quants(n, nmax, x, L, rmse_type = 1, no weights): codes
// L in [0, 2 nmax) (offset by nmax) and the scale. Float expressions keep
// ggml's association; each is its own statement or a single operation so no
// compiler contracts them into an fma.
inline float q6_k_make_qx_quants(const float* x, int8_t* L) {
  constexpr int32_t kN = 16;
  constexpr int32_t kNmax = 32;
  float max = 0.0f;
  float amax = 0.0f;
  for (int32_t i = 0; i < kN; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < 1e-15f) {  // ggml's GROUP_MAX_EPS
    for (int32_t i = 0; i < kN; ++i) L[i] = 0;
    return 0.0f;
  }
  const auto code = [](float scaled) {
    const int32_t l = ggml_nearest_int(scaled);
    return l < -kNmax ? -kNmax : (l > kNmax - 1 ? kNmax - 1 : l);
  };
  // sumlx += w * x * l and suml2 += w * l * l with w = x * x, left to right.
  const auto accumulate = [&](float iscale, float* sumlx, float* suml2) {
    *sumlx = 0.0f;
    *suml2 = 0.0f;
    for (int32_t i = 0; i < kN; ++i) {
      const float l = static_cast<float>(code(iscale * x[i]));
      const float w = x[i] * x[i];
      const float wx = w * x[i];
      const float wxl = wx * l;
      *sumlx = *sumlx + wxl;
      const float wl = w * l;
      const float wll = wl * l;
      *suml2 = *suml2 + wll;
    }
  };
  float iscale = static_cast<float>(-kNmax) / max;
  for (int32_t i = 0; i < kN; ++i) L[i] = static_cast<int8_t>(code(iscale * x[i]) + kNmax);
  float sumlx = 0.0f;
  float suml2 = 0.0f;
  accumulate(iscale, &sumlx, &suml2);
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int32_t is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float step = 0.1f * static_cast<float>(is);
    const float nmax_is = static_cast<float>(kNmax) + step;
    iscale = -nmax_is / max;
    accumulate(iscale, &sumlx, &suml2);
    const float lhs = sumlx * sumlx;
    const float rhs = best * suml2;
    if (suml2 > 0.0f && lhs > rhs) {
      for (int32_t i = 0; i < kN; ++i) L[i] = static_cast<int8_t>(code(iscale * x[i]) + kNmax);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace detail

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
// All-zero block (every sub-block scale below 1e-15): all bytes 0, d = 0.
// Non-finite input gives the bytes ggml's arithmetic gives on x86 (the
// rounding helper reads float bits, so nothing is undefined), not a
// meaningful block.
inline void quantize_row_q6_k(const float* x, BlockQ6_K* y, size_t n) {
  constexpr size_t kQK = BlockQ6_K::kElements;
  trix::detail::require_multiple("quantize_row_q6_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    BlockQ6_K& out = y[b];
    int8_t L[kQK];
    float scales[kQK / 16];
    float max_scale = 0.0f;
    float max_abs_scale = 0.0f;
    for (size_t g = 0; g < kQK / 16; ++g) {
      scales[g] = detail::q6_k_make_qx_quants(x + 16 * g, L + 16 * g);
      const float abs_scale = std::fabs(scales[g]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[g];
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&out, 0, sizeof out);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    out.d = fp32_to_fp16(1.0f / iscale);
    for (size_t g = 0; g < kQK / 16; ++g) {
      const int32_t l = trix::detail::ggml_nearest_int(iscale * scales[g]);
      out.scales[g] = trix::detail::wrap_to_int8(l < 127 ? l : 127);
    }
    for (size_t g = 0; g < kQK / 16; ++g) {
      const float d = fp16_to_fp32(out.d) * static_cast<float>(out.scales[g]);
      if (d == 0.0f) continue;  // keep the codes of the search, as ggml
      for (size_t i = 16 * g; i < 16 * g + 16; ++i) {
        const int32_t l = trix::detail::ggml_nearest_int(x[i] / d);
        L[i] = static_cast<int8_t>((l < -32 ? -32 : (l > 31 ? 31 : l)) + 32);
      }
    }
    for (auto& v : out.ql) v = 0;
    for (auto& v : out.qh) v = 0;
    for (size_t e = 0; e < kQK; ++e) {
      const size_t chunk = e / 128;
      const size_t group = (e % 128) / 32;
      const size_t l = e % 32;
      const auto code = static_cast<uint32_t>(L[e]);
      out.ql[64 * chunk + 32 * (group & 1) + l] |= static_cast<uint8_t>((code & 15u) << (group < 2 ? 0 : 4));
      out.qh[32 * chunk + l] |= static_cast<uint8_t>((code >> 4) << (2 * group));
    }
  }
}

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q6_k(const BlockQ6_K* x, float* y, size_t n) {
  constexpr size_t kQK = BlockQ6_K::kElements;
  trix::detail::require_multiple("dequantize_row_q6_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_fp32(x[b].d);
    for (size_t e = 0; e < kQK; ++e) {
      const float ds = d * static_cast<float>(x[b].scales[e / 16]);
      *y++ = ds * static_cast<float>(trix::detail::q6_k_code(x[b], e));
    }
  }
}

// dequantize_row_q6_k's values (each (d * sc) * q, two roundings) walked in
// the layout's own order: 4 elements per (chunk, l) from one ql/qh pair, no
// per-element index arithmetic (the tied embedding is Q6_K; one row per
// prompt token).
inline void dequantize_row_q6_k_fast(const BlockQ6_K* x, float* y, size_t n) {
  trix::detail::require_multiple("dequantize_row_q6_k_fast", n, BlockQ6_K::kElements);
  for (size_t b = 0; b < n / BlockQ6_K::kElements; ++b) {
    const BlockQ6_K& blk = x[b];
    const float d = fp16_to_fp32(blk.d);
    float ds[16];
    for (size_t g = 0; g < 16; ++g) ds[g] = d * static_cast<float>(blk.scales[g]);
    for (size_t c = 0; c < 2; ++c) {
      const uint8_t* ql = blk.ql + 64 * c;
      const uint8_t* qh = blk.qh + 32 * c;
      float* out = y + 256 * b + 128 * c;
      const float* dsc = ds + 8 * c;
      for (size_t l = 0; l < 32; ++l) {
        const int q0 = ((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32;
        const int q1 = ((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = dsc[l / 16] * static_cast<float>(q0);
        out[l + 32] = dsc[2 + l / 16] * static_cast<float>(q1);
        out[l + 64] = dsc[4 + l / 16] * static_cast<float>(q2);
        out[l + 96] = dsc[6 + l / 16] * static_cast<float>(q3);
      }
    }
  }
}

// Dot product of a Q6_K row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error).
//
// Float contract (every backend reproduces it bit for bit):
//   acc = 0.0f
//   for each block b in order:
//     isum = sum_{g<16} scales[g] * (sum_{i in 16g..16g+15} q_i * a[b].qs[i])
//                                                    exact int32, |isum| <= 2^27
//     acc  = fma(float(isum), fp16_to_fp32(w[b].d) * a[b].d, acc)
//   return acc
// float(isum) may round (|isum| can exceed 2^24); that rounding is part of
// the contract.
inline float vec_dot_q6_k_q8_k(const BlockQ6_K* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = BlockQ6_K::kElements;
  static_assert(BlockQ8_K::kElements == kQK);
  trix::detail::require_multiple("vec_dot_q6_k_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (size_t g = 0; g < 16; ++g) {
      int32_t dot = 0;
      for (size_t i = 16 * g; i < 16 * g + 16; ++i) dot += trix::detail::q6_k_code(w[b], i) * a[b].qs[i];
      isum += int32_t{w[b].scales[g]} * dot;
    }
    acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w[b].d) * a[b].d, acc);
  }
  return acc;
}

}  // namespace trix

TRIX_FP_CONTRACT_OFF_END
