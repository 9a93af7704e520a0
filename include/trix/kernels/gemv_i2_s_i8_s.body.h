// I2_S x I8_S GEMV of one row, for the GPU backends (CUDA, Metal): the
// contract of trix::vec_dot_i2_s_i8_s (trix/formats/i2_s.h) at tensor scale
// 1 (the caller applies the tensor's): isum = sum (c - 1) * q exact, then
// float(isum) / act_scale. Rows as stored (bitnet.cpp's x86 I2_S layout: a
// row is k / 128 groups of 32 bytes, byte j of a group holding weights j,
// j + 32, j + 64, j + 96 in bits 7-6, 5-4, 3-2, 1-0). The kernel
// (DeviceContract kIntLanes16 in trix-gen) runs 16 lanes per row: lane l
// reads bytes 2 l and 2 l + 1 of every group (a half-warp reads a group as
// 16 coalesced 2-byte words), and adds the lanes' sums exactly.
// Same C++/CUDA/MSL subset and context as gemv_tq2_0_q8_k.body.h, plus
// kWGroupBytes (I2_S block bytes) and kABlockBytes (bytes per I8_S code).

TRIX_FN inline int trix_gemv_i2_s_i8_s_lane_isum(TRIX_GLOBAL const trix_u8* w_row, TRIX_GLOBAL const trix_u8* act,
                                                 trix_u32 k, trix_u32 lane) {
  int isum = 0;
  for (trix_u32 g = 0; g < k / 128u; ++g) {
    for (trix_u32 j = 2u * lane; j < 2u * lane + 2u; ++j) {
      const trix_u32 byte = w_row[g * kWGroupBytes + j];
      for (trix_u32 n = 0; n < 4u; ++n) {
        const int code = static_cast<int>((byte >> (6u - 2u * n)) & 3u);
        isum += (code - 1) * trix_sext8(act[(128u * g + j + 32u * n) * kABlockBytes]);
      }
    }
  }
  return isum;
}

// The row's result from the exact sum: one rounding to f32, one division by
// the activation row's scale (the f32 trailer after its k codes).
TRIX_FN inline float trix_gemv_i2_s_i8_s_finish(int isum, TRIX_GLOBAL const trix_u8* act, trix_u32 k) {
  return static_cast<float>(isum) / trix_bits_to_f32(trix_load_u32le(act + k * kABlockBytes));
}
