// Q8_0 x Q8_0 GEMV terms of one block, for the GPU backends (CUDA, Metal):
// the contract of trix::vec_dot_q8_0_q8_0 (trix/formats/q8_0.h), a
// block-sequential chain acc = fma(float(isum_b), d_w * d_a, acc) from +0.
// The kernel (DeviceContract kBlockSequential in trix-gen) computes each
// block's two terms here, in parallel, and runs the chain in block order.
// Same C++/CUDA/MSL subset and context as gemv_tq2_0_q8_k.body.h, plus the
// Q8_0 layout: kWBlockBytes, kWScaleOffset (d), kWQsOffset and the same for
// the activations (kA...).

// sum_j w.qs[j] * x.qs[j] over block b's 32 elements: exact (|isum| <= 2^19).
TRIX_FN inline int trix_gemv_q8_0_q8_0_block_isum(TRIX_GLOBAL const trix_u8* w_row, TRIX_GLOBAL const trix_u8* act,
                                                  trix_u32 b) {
  TRIX_GLOBAL const trix_u8* wq = w_row + b * kWBlockBytes + kWQsOffset;
  TRIX_GLOBAL const trix_u8* aq = act + b * kABlockBytes + kAQsOffset;
  int isum = 0;
  for (trix_u32 j = 0; j < 32u; ++j) isum += trix_sext8(wq[j]) * trix_sext8(aq[j]);
  return isum;
}

// d_w * d_a of block b, rounded once to f32 as the reference does.
TRIX_FN inline float trix_gemv_q8_0_q8_0_block_scale(TRIX_GLOBAL const trix_u8* w_row, TRIX_GLOBAL const trix_u8* act,
                                                     trix_u32 b) {
  return trix_f16_bits_to_f32(trix_load_u16le(w_row + b * kWBlockBytes + kWScaleOffset)) *
         trix_f16_bits_to_f32(trix_load_u16le(act + b * kABlockBytes + kAScaleOffset));
}
