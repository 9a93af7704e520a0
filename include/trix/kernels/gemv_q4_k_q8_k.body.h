// Q4_K x Q8_K GEMV, one lane of one row, for the GPU backends (CUDA, Metal):
// the "q4k lanes16" contract of trix/kernels/gemv_q4_k_q8_k_ref.h. Per
// 256-element block, lane l owns e = 64 m + 4 l + i (m, i in 0..3), which
// lie in sub-block 2 m + l / 8 (low nibbles of qs[32 m ..] for l < 8, high
// nibbles for l >= 8), and sums
//   s = sum_m sc[2 m + l / 8] * sum_i q(e) * q8[e]
//   t = mn[l] * (bsums[2 l] + bsums[2 l + 1])   (l < 8; 0 otherwise)
// then acc = fma(float(s), d * d_a, acc); acc = fma(float(-t), dmin * d_a,
// acc) in block order. sc / mn are the 6-bit scales and mins packed in 12
// bytes (ggml's get_scale_min_k4). Same C++/CUDA/MSL subset and context as
// gemv_tq2_0_q8_k.body.h, plus the Q4_K offsets kWScaleOffset (d),
// kWMinOffset (dmin), kWScalesOffset, kWQsOffset and Q8_K's kABsumsOffset.

// Sub-block s's 6-bit scale (want_min false) or min (true).
TRIX_FN inline int trix_q4_k_scale_or_min(TRIX_GLOBAL const trix_u8* sc, trix_u32 s, bool want_min) {
  if (s < 4u) return static_cast<int>(sc[s + (want_min ? 4u : 0u)] & 63u);
  const trix_u32 low = want_min ? (static_cast<trix_u32>(sc[s + 4u]) >> 4) : (sc[s + 4u] & 15u);
  const trix_u32 high = static_cast<trix_u32>(sc[s - (want_min ? 0u : 4u)]) >> 6;
  return static_cast<int>(low | (high << 4));
}

TRIX_FN inline float trix_gemv_q4_k_q8_k_lane(TRIX_GLOBAL const trix_u8* w_row, TRIX_GLOBAL const trix_u8* act,
                                              trix_u32 k, trix_u32 lane) {
  float acc = 0.0f;
  const trix_u32 nibble_shift = lane < 8u ? 0u : 4u;
  for (trix_u32 b = 0; b < k / 256u; ++b) {
    TRIX_GLOBAL const trix_u8* wb = w_row + b * kWBlockBytes;
    TRIX_GLOBAL const trix_u8* ab = act + b * kABlockBytes;
    int s = 0;
    for (trix_u32 m = 0; m < 4u; ++m) {
      int dot = 0;
      for (trix_u32 i = 0; i < 4u; ++i) {
        const trix_u32 q = (static_cast<trix_u32>(wb[kWQsOffset + 32u * m + 4u * (lane % 8u) + i]) >> nibble_shift) & 15u;
        dot += static_cast<int>(q) * trix_sext8(ab[kAQsOffset + 64u * m + 4u * lane + i]);
      }
      s += trix_q4_k_scale_or_min(wb + kWScalesOffset, 2u * m + lane / 8u, false) * dot;
    }
    int t = 0;
    if (lane < 8u) {
      const int b0 = trix_sext16(trix_load_u16le(ab + kABsumsOffset + 4u * lane));
      const int b1 = trix_sext16(trix_load_u16le(ab + kABsumsOffset + 4u * lane + 2u));
      t = trix_q4_k_scale_or_min(wb + kWScalesOffset, lane, true) * (b0 + b1);
    }
    const float da = trix_bits_to_f32(trix_load_u32le(ab + kAScaleOffset));
    const float d = trix_f16_bits_to_f32(trix_load_u16le(wb + kWScaleOffset)) * da;
    const float dmin = trix_f16_bits_to_f32(trix_load_u16le(wb + kWMinOffset)) * da;
    acc = trix_fma(static_cast<float>(s), d, acc);
    acc = trix_fma(static_cast<float>(-t), dmin, acc);
  }
  return acc;
}
