// Elementwise device ops for the GPU backends (CUDA, Metal), one thread per
// item (OpContract::kItems in trix-gen): residual add, the SwiGLU and
// squared-ReLU gates, RoPE with adjacent or NeoX pairs. Same C++/CUDA/MSL
// subset and context as gemv_tq2_0_q8_k.body.h (device_common.body.h's
// helpers); no layout constants. Each item computes what the CPU ops
// (trix/runtime/reference_ops.h, trix/cpu/ops.h) compute for that element,
// in the same order: products that feed a sum go through trix_mul, so nvcc
// does not fuse them into an fma the CPU does not use.

// out = a + b (a residual add; out may be a).
TRIX_FN inline void trix_add_item(TRIX_GLOBAL const float* a, TRIX_GLOBAL const float* b, TRIX_GLOBAL float* out,
                                  trix_u32, trix_u32 i) {
  out[i] = a[i] + b[i];
}

// out = silu(a) * b = a / (1 + exp(-a)) * b (a: gate, b: up).
TRIX_FN inline void trix_swiglu_item(TRIX_GLOBAL const float* a, TRIX_GLOBAL const float* b, TRIX_GLOBAL float* out,
                                     trix_u32, trix_u32 i) {
  const float g = a[i];
  out[i] = g / (1.0f + trix_exp(-g)) * b[i];
}

// out = relu(a)^2 * b (BitNet b1.58's gate).
TRIX_FN inline void trix_relu2_gate_item(TRIX_GLOBAL const float* a, TRIX_GLOBAL const float* b,
                                         TRIX_GLOBAL float* out, trix_u32, trix_u32 i) {
  const float r = a[i] > 0.0f ? a[i] : 0.0f;
  out[i] = r * r * b[i];
}

// Rotates elements (ia, ib) of one head vector by (c, s).
TRIX_FN inline void trix_rope_pair(TRIX_GLOBAL float* v, trix_u32 ia, trix_u32 ib, float c, float s) {
  const float x0 = v[ia];
  const float x1 = v[ib];
  v[ia] = trix_mul(x0, c) - trix_mul(x1, s);
  v[ib] = trix_mul(x0, s) + trix_mul(x1, c);
}

// Item i is pair j = i % (head_dim / 2) of head i / (head_dim / 2), turned
// by cos_t[j], sin_t[j] (a rope_table): elements (2 j, 2 j + 1).
TRIX_FN inline void trix_rope_adjacent_item(TRIX_GLOBAL float* x, TRIX_GLOBAL const float* cos_t,
                                            TRIX_GLOBAL const float* sin_t, trix_u32, trix_u32 head_dim, trix_u32 i) {
  const trix_u32 half = head_dim / 2u;
  const trix_u32 j = i % half;
  trix_rope_pair(x + (i / half) * head_dim, 2u * j, 2u * j + 1u, cos_t[j], sin_t[j]);
}

// The same with elements (j, j + head_dim / 2) (NeoX, BitNet).
TRIX_FN inline void trix_rope_neox_item(TRIX_GLOBAL float* x, TRIX_GLOBAL const float* cos_t,
                                        TRIX_GLOBAL const float* sin_t, trix_u32, trix_u32 head_dim, trix_u32 i) {
  const trix_u32 half = head_dim / 2u;
  const trix_u32 j = i % half;
  trix_rope_pair(x + (i / half) * head_dim, j, j + half, cos_t[j], sin_t[j]);
}
