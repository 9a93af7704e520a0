// Embedding row lookup for Q8_0 tables on the GPU backends (CUDA, Metal),
// one thread per element (OpContract::kItems in trix-gen): element i of row
// `token` (n elements, a multiple of kBlockElements = 32) is float(qs[i % 32]) * float(d) of its
// block, as trix::dequantize_row_q8_0. Same C++/CUDA/MSL subset and context
// as gemv_tq2_0_q8_k.body.h, plus Q8_0's kBlockElements, kBlockBytes, kScaleOffset (d) and
// kQsOffset.

TRIX_FN inline void trix_embedding_q8_0_item(TRIX_GLOBAL const trix_u8* table, TRIX_GLOBAL float* out, trix_u32 token,
                                             trix_u32 n, trix_u32 i) {
  TRIX_GLOBAL const trix_u8* blk = table + (static_cast<trix_u64>(token) * (n / kBlockElements) + i / kBlockElements) * kBlockBytes;
  const float d = trix_f16_bits_to_f32(trix_load_u16le(blk + kScaleOffset));
  out[i] = static_cast<float>(trix_sext8(blk[kQsOffset + i % kBlockElements])) * d;
}
