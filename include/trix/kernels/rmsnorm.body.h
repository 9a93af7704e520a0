// RMSNorm for the GPU backends (CUDA, Metal), one 32-thread warp / SIMD
// group per row of n floats (OpContract::kRowWarp in trix-gen): lane l sums
// x[i]^2 over i = l, l + 32, ... with fma from +0, the 32 partial sums are
// added by the butterfly, then out = x * (1 / sqrt(sum / n + eps)) * w, the
// products in trix/runtime/reference_ops.h's order. The sum's order differs
// from the CPU's (8 running sums), hence the spec's tolerance. out may be x:
// each element is read and written by the one lane that owns it, and all
// reads of the sum happen before the butterfly ends. Same C++/CUDA/MSL
// subset and context as gemv_tq2_0_q8_k.body.h.

TRIX_FN inline float trix_rmsnorm_partial(TRIX_GLOBAL const float* x, TRIX_GLOBAL const float*, TRIX_GLOBAL float*,
                                          trix_u32 n, float, trix_u32, trix_u32 row, trix_u32 lane) {
  TRIX_GLOBAL const float* xr = x + static_cast<trix_u64>(row) * n;
  float acc = 0.0f;
  for (trix_u32 i = lane; i < n; i += 32u) acc = trix_fma(xr[i], xr[i], acc);
  return acc;
}

TRIX_FN inline float trix_rmsnorm_combine(float a, float b, bool) { return a + b; }

TRIX_FN inline int trix_rmsnorm_finish(TRIX_GLOBAL const float* x, TRIX_GLOBAL const float* w, TRIX_GLOBAL float* out,
                                       trix_u32 n, float eps, trix_u32, trix_u32 row, trix_u32 lane, float sum) {
  const float scale = 1.0f / trix_sqrt(sum / static_cast<float>(n) + eps);
  TRIX_GLOBAL const float* xr = x + static_cast<trix_u64>(row) * n;
  TRIX_GLOBAL float* yr = out + static_cast<trix_u64>(row) * n;
  for (trix_u32 i = lane; i < n; i += 32u) yr[i] = trix_mul(xr[i], scale) * w[i];
  return 0;
}

TRIX_FN inline void trix_rmsnorm_store(TRIX_GLOBAL const float*, TRIX_GLOBAL const float*, TRIX_GLOBAL float*, trix_u32,
                                       float, trix_u32, trix_u32, float, int) {}
