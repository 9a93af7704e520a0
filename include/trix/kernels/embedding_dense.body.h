// Embedding row lookup for F32 and F16 tables on the GPU backends (CUDA,
// Metal), one thread per element (OpContract::kItems in trix-gen): element
// i of row `token` of a table with rows of n elements, kBlockBytes bytes
// each (the format spec's), widened to f32 exactly as
// trix::dequantize_row_f16 / a copy do. Same C++/CUDA/MSL subset and context
// as gemv_tq2_0_q8_k.body.h.

TRIX_FN inline TRIX_GLOBAL const trix_u8* trix_embedding_element(TRIX_GLOBAL const trix_u8* table, trix_u32 token,
                                                                 trix_u32 n, trix_u32 i) {
  return table + (static_cast<trix_u64>(token) * n + i) * kBlockBytes;
}

TRIX_FN inline void trix_embedding_f32_item(TRIX_GLOBAL const trix_u8* table, TRIX_GLOBAL float* out, trix_u32 token,
                                            trix_u32 n, trix_u32 i) {
  out[i] = trix_bits_to_f32(trix_load_u32le(trix_embedding_element(table, token, n, i)));
}

TRIX_FN inline void trix_embedding_f16_item(TRIX_GLOBAL const trix_u8* table, TRIX_GLOBAL float* out, trix_u32 token,
                                            trix_u32 n, trix_u32 i) {
  out[i] = trix_f16_bits_to_f32(trix_load_u16le(trix_embedding_element(table, token, n, i)));
}
