// Q6_K x Q8_K GEMV, one lane of one row, for the GPU backends (CUDA, Metal):
// the "q6k lanes16" contract of trix/kernels/gemv_q6_k_q8_k_ref.h. Per
// 256-element block, lane l owns e = 64 m + 4 l + i (m, i in 0..3) and sums
//   s = sum_m sc[4 m + l / 4] * sum_i u(e) * q[e]
//       - 32 * (sc[2 l] * bsums[2 l] + sc[2 l + 1] * bsums[2 l + 1])   (l < 8)
// with u(e) the unsigned 6-bit code, then acc = fma(float(s), d_w * d_a, acc)
// in block order. Same C++/CUDA/MSL subset and context as
// gemv_tq2_0_q8_k.body.h, plus the Q6_K field offsets kWQlOffset, kWQhOffset,
// kWScalesOffset, kWScaleOffset (d) and Q8_K's kABsumsOffset.

TRIX_FN inline float trix_gemv_q6_k_q8_k_lane(TRIX_GLOBAL const trix_u8* w_row, TRIX_GLOBAL const trix_u8* act,
                                              trix_u32 k, trix_u32 lane) {
  float acc = 0.0f;
  for (trix_u32 b = 0; b < k / 256u; ++b) {
    TRIX_GLOBAL const trix_u8* wb = w_row + b * kWBlockBytes;
    TRIX_GLOBAL const trix_u8* ab = act + b * kABlockBytes;
    int s = 0;
    for (trix_u32 m = 0; m < 4u; ++m) {
      // Elements 64 m + 4 l .. + 3: half `m / 2` of the block (128 codes),
      // quarter q = (m % 2) * 2 + l / 8 of it, position p = 4 (l % 8) + i.
      const trix_u32 half = m / 2u;
      const trix_u32 quarter = (m % 2u) * 2u + lane / 8u;
      int dot = 0;
      for (trix_u32 i = 0; i < 4u; ++i) {
        const trix_u32 p = 4u * (lane % 8u) + i;
        const trix_u32 ql = wb[kWQlOffset + 64u * half + 32u * (quarter % 2u) + p];
        const trix_u32 low = quarter < 2u ? (ql & 15u) : (ql >> 4);
        const trix_u32 high = (static_cast<trix_u32>(wb[kWQhOffset + 32u * half + p]) >> (2u * quarter)) & 3u;
        dot += static_cast<int>(low | (high << 4)) * trix_sext8(ab[kAQsOffset + 64u * m + 4u * lane + i]);
      }
      s += trix_sext8(wb[kWScalesOffset + 4u * m + lane / 4u]) * dot;
    }
    if (lane < 8u) {
      const int b0 = trix_sext16(trix_load_u16le(ab + kABsumsOffset + 4u * lane));
      const int b1 = trix_sext16(trix_load_u16le(ab + kABsumsOffset + 4u * lane + 2u));
      s -= 32 * (trix_sext8(wb[kWScalesOffset + 2u * lane]) * b0 + trix_sext8(wb[kWScalesOffset + 2u * lane + 1u]) * b1);
    }
    const float dw = trix_f16_bits_to_f32(trix_load_u16le(wb + kWScaleOffset));
    const float da = trix_bits_to_f32(trix_load_u32le(ab + kAScaleOffset));
    acc = trix_fma(static_cast<float>(s), dw * da, acc);
  }
  return acc;
}
