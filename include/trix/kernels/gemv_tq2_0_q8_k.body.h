// TQ2_0 x Q8_K GEMV, one lane of one row: the single body shared by the C++
// reference, the CUDA kernel and the Metal kernel (trix-gen embeds this file
// in the generated .metal source). Written in the subset of C++ that CUDA and
// the Metal Shading Language both accept: no std::, no library calls, no
// pointer casts. The including context provides:
//   TRIX_FN, TRIX_GLOBAL                 function qualifiers, address space
//   trix_u8, trix_u32                    8- and 32-bit unsigned types
//   trix_f16_bits_to_f32(u32), trix_bits_to_f32(u32), trix_fma(a, b, c)
//   trix_sext8, trix_load_u16le, trix_load_u32le  (device_common.body.h)
//   kWBlockBytes, kWScaleOffset          TQ2_0 layout (from specs/formats)
//   kABlockBytes, kAScaleOffset, kAQsOffset   Q8_K layout
//
// Contract (the "lanes16" accumulation order every backend reproduces):
// each 256-element block is split into 16 lanes; lane l owns elements
// e = (l / 8) * 128 + 32 * n + 4 * (l % 8) + i for n, i in 0..3, i.e. the
// 4 adjacent code bytes 32*(l/8) + 4*(l%8) .. +3 of the block, all 4 fields.
// Per block the lane's integer sum s = sum (code - 1) * q is exact (|s| <=
// 16 * 128), then acc_l = fma(float(s), d_w * d_a, acc_l) in block order.
// The row result combines the 16 lane accumulators by the butterfly
// ((l, l^8), then (l, l^4), (l, l^2), (l, l^1)), see trix_lanes16_combine.

TRIX_FN inline float trix_gemv_tq2_0_q8_k_lane(TRIX_GLOBAL const trix_u8* w_row,
                                               TRIX_GLOBAL const trix_u8* act,
                                               trix_u32 k, trix_u32 lane) {
  const trix_u32 n_blocks = k / 256u;
  const trix_u32 half_off = (lane / 8u) * 32u;   // code byte group: 0 or 32
  const trix_u32 byte0 = half_off + 4u * (lane % 8u);
  float acc = 0.0f;
  for (trix_u32 b = 0; b < n_blocks; ++b) {
    TRIX_GLOBAL const trix_u8* wb = w_row + b * kWBlockBytes;
    TRIX_GLOBAL const trix_u8* ab = act + b * kABlockBytes;
    const trix_u32 codes = trix_load_u32le(wb + byte0);
    int isum = 0;
    for (trix_u32 n = 0; n < 4u; ++n) {
      for (trix_u32 i = 0; i < 4u; ++i) {
        const int code = static_cast<int>((codes >> (8u * i + 2u * n)) & 3u);
        const int q = trix_sext8(ab[kAQsOffset + half_off * 4u + 32u * n + 4u * (lane % 8u) + i]);
        isum += (code - 1) * q;
      }
    }
    const float dw = trix_f16_bits_to_f32(trix_load_u16le(wb + kWScaleOffset));
    const float da = trix_bits_to_f32(trix_load_u32le(ab + kAScaleOffset));
    acc = trix_fma(static_cast<float>(isum), dw * da, acc);
  }
  return acc;
}
