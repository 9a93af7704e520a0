// F16 x F32 GEMV, one lane of one row, for the GPU backends (CUDA, Metal):
// the lanes16 contract of trix/kernels/gemv_f16_f32_ref.h. Lane l owns the
// elements i = l, l + 16, ... and accumulates acc = fma(float(w[i]), x[i],
// acc) in that order from +0; the kernel then combines the 16 lanes by the
// lanes16 butterfly. Same C++/CUDA/MSL subset and context as
// gemv_tq2_0_q8_k.body.h (device_common.body.h's helpers), plus:
//   kWBlockBytes, kABlockBytes   bytes per element of f16 and f32 (specs/formats)

TRIX_FN inline float trix_gemv_f16_f32_lane(TRIX_GLOBAL const trix_u8* w_row, TRIX_GLOBAL const trix_u8* act,
                                            trix_u32 k, trix_u32 lane) {
  float acc = 0.0f;
  for (trix_u32 i = lane; i < k; i += 16u) {
    const float w = trix_f16_bits_to_f32(trix_load_u16le(w_row + i * kWBlockBytes));
    const float x = trix_bits_to_f32(trix_load_u32le(act + i * kABlockBytes));
    acc = trix_fma(w, x, acc);
  }
  return acc;
}
