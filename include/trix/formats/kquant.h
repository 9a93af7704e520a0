// Pieces shared by the K-quant quantizers (trix/formats/q2_k.h, q4_k.h,
// q5_k.h): ggml's make_qkx2_quants, the weighted least-squares search for a
// sub-block's scale and min, with ggml's float operations in ggml's order,
// one rounding each (no fused multiply-add: the pragma below, as in q4_k.h).
#pragma once

#include "trix/formats/common.h"

TRIX_FP_CONTRACT_OFF_BEGIN

namespace trix::detail {

// make_qkx2_quants's parameters: n elements, codes 0..nmax, trial scales
// (rmin + rdelta * is + nmax) / (max - min) for is = 0..nstep, the error
// as weighted |diff| (use_mad) or weighted diff^2.
struct Qkx2Params {
  int32_t n;
  int32_t nmax;
  float rmin;
  float rdelta;
  int32_t nstep;
  bool use_mad;
};
inline constexpr Qkx2Params kQ2KSearch = {16, 3, -0.5f, 0.1f, 15, true};
inline constexpr Qkx2Params kQ4KSearch = {32, 15, -1.0f, 0.1f, 20, false};
inline constexpr Qkx2Params kQ5KSearch = {32, 31, -0.5f, 0.1f, 15, false};

// ggml's make_qkx2_quants(p.n, p.nmax, x, weights, L, &the_min, Laux,
// p.rmin, p.rdelta, p.nstep, p.use_mad) for p.nstep >= 1 and n <= 32.
// Returns the scale and sets *neg_min to -min (>= 0). Every float operation
// is a separate statement: no fma contraction.
inline float make_qkx2_quants(const Qkx2Params& p, const float* x, const float* weights, uint8_t* L,
                              float* neg_min) {
  const int32_t n = p.n;
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int32_t i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w = sum_w + w;
    const float wx = w * x[i];
    sum_x = sum_x + wx;
  }
  if (min > 0.0f) min = 0.0f;
  if (max == min) {
    for (int32_t i = 0; i < n; ++i) L[i] = 0;
    *neg_min = -min;
    return 0.0f;
  }
  const auto code = [&](float iscale, float xi, float lo) {
    const float shifted = xi - lo;
    const int32_t l = ggml_nearest_int(iscale * shifted);
    return static_cast<uint8_t>(l < 0 ? 0 : (l > p.nmax ? p.nmax : l));
  };
  // sum_i w_i * err(s * l_i + m - x_i), in ggml's order.
  const auto error_of = [&](const uint8_t* codes, float s, float m) {
    float err = 0.0f;
    for (int32_t i = 0; i < n; ++i) {
      const float sl = s * static_cast<float>(codes[i]);
      const float slm = sl + m;
      float diff = slm - x[i];
      diff = p.use_mad ? std::fabs(diff) : diff * diff;
      const float wd = weights[i] * diff;
      err = err + wd;
    }
    return err;
  };
  // max - min is recomputed below: min moves to each better candidate's min.
  float iscale = static_cast<float>(p.nmax) / (max - min);
  float scale = 1.0f / iscale;
  for (int32_t i = 0; i < n; ++i) L[i] = code(iscale, x[i], min);
  float best_error = error_of(L, scale, min);
  uint8_t Laux[32];
  for (int32_t is = 0; is <= p.nstep; ++is) {
    const float step = p.rdelta * static_cast<float>(is);
    const float num = (p.rmin + step) + static_cast<float>(p.nmax);
    iscale = num / (max - min);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int32_t i = 0; i < n; ++i) {
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
      const float pp = sum_w * sum_xl;
      const float q = sum_x * sum_l;
      float this_scale = (pp - q) / D;
      const float r = sum_l2 * sum_x;
      const float t = sum_l * sum_xl;
      float this_min = (r - t) / D;
      if (this_min > 0.0f) {
        this_min = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      const float cur_error = error_of(Laux, this_scale, this_min);
      if (cur_error < best_error) {
        for (int32_t i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

// Requantizes codes against a stored scale d and min dm: l =
// clamp(nearest_int((x + dm) / d), 0, nmax) for n elements (ggml's last
// pass of quantize_row_q{2,4,5}_K_ref).
inline void requantize_with_min(const float* x, float d, float dm, int32_t nmax, size_t n, uint8_t* L) {
  for (size_t i = 0; i < n; ++i) {
    const float shifted = x[i] + dm;
    const int32_t l = ggml_nearest_int(shifted / d);
    L[i] = static_cast<uint8_t>(l < 0 ? 0 : (l > nmax ? nmax : l));
  }
}

}  // namespace trix::detail

TRIX_FP_CONTRACT_OFF_END
