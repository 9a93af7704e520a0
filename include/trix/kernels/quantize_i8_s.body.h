// f32 -> per-token int8 (i8_s) activation quantizer for the GPU backends
// (CUDA, Metal), one 32-thread warp / SIMD group per row of n floats
// (OpContract::kRowWarp in trix-gen), the codes, scale and code sum of
// trix::quantize_row_i8_s (trix/formats/i2_s.h) for finite input: lane l
// takes max |x| over i = l, l + 32, ..., the butterfly the max of those
// (exact in any order); s = 127 / max(amax, 1e-5) (in float: float(127.0 /
// double(amax)) is the same number, as a float quotient rounded via double
// is; every float above 1e-5f is above the double 1e-5 and none equals it),
// q = clamp(rint(x * s), -128, 127) with ties to even (ggml's nearest_int),
// and the codes' sum exactly over the warp. Same C++/CUDA/MSL subset and
// context as gemv_tq2_0_q8_k.body.h.

TRIX_FN inline float trix_quantize_i8_s_scale(float amax) { return amax > 1e-5f ? 127.0f / amax : 12700000.0f; }

TRIX_FN inline float trix_quantize_i8_s_partial(TRIX_GLOBAL const float* x, TRIX_GLOBAL trix_i8*, TRIX_GLOBAL float*,
                                                TRIX_GLOBAL int*, trix_u32 n, trix_u32, trix_u32 row, trix_u32 lane) {
  TRIX_GLOBAL const float* xr = x + static_cast<trix_u64>(row) * n;
  float amax = 0.0f;
  for (trix_u32 i = lane; i < n; i += 32u) amax = trix_abs(xr[i]) > amax ? trix_abs(xr[i]) : amax;
  return amax;
}

TRIX_FN inline float trix_quantize_i8_s_combine(float a, float b, bool) { return a > b ? a : b; }

TRIX_FN inline int trix_quantize_i8_s_finish(TRIX_GLOBAL const float* x, TRIX_GLOBAL trix_i8* q, TRIX_GLOBAL float*,
                                             TRIX_GLOBAL int*, trix_u32 n, trix_u32, trix_u32 row, trix_u32 lane,
                                             float amax) {
  const float s = trix_quantize_i8_s_scale(amax);
  TRIX_GLOBAL const float* xr = x + static_cast<trix_u64>(row) * n;
  TRIX_GLOBAL trix_i8* qr = q + static_cast<trix_u64>(row) * n;
  int sum = 0;
  for (trix_u32 i = lane; i < n; i += 32u) {
    const float p = trix_mul(xr[i], s);
    int v = p != p ? 0 : static_cast<int>(trix_rint(p));
    v = v > 127 ? 127 : (v < -128 ? -128 : v);
    qr[i] = static_cast<trix_i8>(v);
    sum += v;
  }
  return sum;
}

TRIX_FN inline void trix_quantize_i8_s_store(TRIX_GLOBAL const float*, TRIX_GLOBAL trix_i8*, TRIX_GLOBAL float* scale,
                                             TRIX_GLOBAL int* sum, trix_u32, trix_u32, trix_u32 row, float amax,
                                             int total) {
  scale[row] = trix_quantize_i8_s_scale(amax);
  sum[row] = total;
}
