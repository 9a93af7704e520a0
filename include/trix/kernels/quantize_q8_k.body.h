// f32 -> Q8_K activation quantizer for the GPU backends (CUDA, Metal), one
// 32-thread warp / SIMD group per 256-element block (OpContract::kRowWarp in
// trix-gen), the same bytes as trix::quantize_row_q8_k (trix/formats/q8_k.h)
// for finite input: lane l searches elements 8 l .. 8 l + 7 for the largest
// |x| (first on ties), the butterfly keeps the larger, the lower lanes' on a
// tie, so the block's max is the first element of largest |x|. Then
// iscale = -127 / max, lanes 0..15 each write group l's 16 codes
// min(127, rint(iscale * x)) (half to even) and their sum, lane 0 writes
// d = 1 / iscale; an all-zero block gets d = 0 and zero codes. Same
// C++/CUDA/MSL subset and context as gemv_tq2_0_q8_k.body.h, plus Q8_K's
// kBlockBytes and field offsets kScaleOffset (d), kQsOffset, kBsumsOffset.

TRIX_FN inline float trix_quantize_q8_k_partial(TRIX_GLOBAL const float* x, TRIX_GLOBAL trix_u8*, trix_u32,
                                                trix_u32 row, trix_u32 lane) {
  TRIX_GLOBAL const float* xs = x + static_cast<trix_u64>(row) * kBlockElements + 8u * lane;
  float max = 0.0f;
  float amax = 0.0f;
  for (trix_u32 j = 0; j < 8u; ++j) {
    if (trix_abs(xs[j]) > amax) {
      amax = trix_abs(xs[j]);
      max = xs[j];
    }
  }
  return max;
}

TRIX_FN inline float trix_quantize_q8_k_combine(float a, float b, bool a_first) {
  if (a_first) return trix_abs(b) > trix_abs(a) ? b : a;
  return trix_abs(a) > trix_abs(b) ? a : b;
}

TRIX_FN inline int trix_quantize_q8_k_finish(TRIX_GLOBAL const float* x, TRIX_GLOBAL trix_u8* y, trix_u32,
                                             trix_u32 row, trix_u32 lane, float max) {
  if (lane >= 16u) return 0;
  TRIX_GLOBAL const float* xg = x + static_cast<trix_u64>(row) * kBlockElements + 16u * lane;
  TRIX_GLOBAL trix_u8* yb = y + static_cast<trix_u64>(row) * kBlockBytes;
  const float iscale = max == 0.0f ? 0.0f : -127.0f / max;
  int sum = 0;
  for (trix_u32 j = 0; j < 16u; ++j) {
    const float scaled = trix_mul(iscale, xg[j]);
    int v = scaled != scaled ? 0 : static_cast<int>(trix_rint(scaled));
    v = v < 127 ? v : 127;
    yb[kQsOffset + 16u * lane + j] = static_cast<trix_u8>(static_cast<trix_u32>(v) & 0xffu);
    sum += v;
  }
  trix_store_u16le(yb + kBsumsOffset + 2u * lane, static_cast<trix_u32>(sum) & 0xffffu);
  return 0;
}

TRIX_FN inline void trix_quantize_q8_k_store(TRIX_GLOBAL const float*, TRIX_GLOBAL trix_u8* y, trix_u32, trix_u32 row,
                                             float max, int) {
  const float d = max == 0.0f ? 0.0f : 1.0f / (-127.0f / max);
  trix_store_u32le(y + static_cast<trix_u64>(row) * kBlockBytes + kScaleOffset, trix_f32_to_bits(d));
}
