// Embedding row lookup for Q6_K tables on the GPU backends (CUDA, Metal),
// one thread per element (OpContract::kItems in trix-gen): element i of row
// `token` (n elements, n % 256 == 0) is (d * scales[e / 16]) * (u - 32) with
// e = i % 256 and u its 6-bit code (half e / 128, field (e % 128) / 32 of
// ql's nibbles and qh's 2-bit pairs, position e % 32), as
// trix::dequantize_row_q6_k. Same C++/CUDA/MSL subset and context as
// gemv_tq2_0_q8_k.body.h, plus Q6_K's kBlockElements (256), kBlockBytes, kQlOffset, kQhOffset,
// kScalesOffset and kScaleOffset (d).

TRIX_FN inline void trix_embedding_q6_k_item(TRIX_GLOBAL const trix_u8* table, TRIX_GLOBAL float* out, trix_u32 token,
                                             trix_u32 n, trix_u32 i) {
  TRIX_GLOBAL const trix_u8* blk = table + (static_cast<trix_u64>(token) * (n / kBlockElements) + i / kBlockElements) * kBlockBytes;
  const trix_u32 e = i % kBlockElements;
  const trix_u32 half = e / 128u;
  const trix_u32 field = (e % 128u) / 32u;
  const trix_u32 p = e % 32u;
  const trix_u32 ql = blk[kQlOffset + 64u * half + 32u * (field % 2u) + p];
  const trix_u32 low = field < 2u ? (ql & 15u) : (ql >> 4);
  const trix_u32 high = (static_cast<trix_u32>(blk[kQhOffset + 32u * half + p]) >> (2u * field)) & 3u;
  const float ds = trix_f16_bits_to_f32(trix_load_u16le(blk + kScaleOffset)) *
                   static_cast<float>(trix_sext8(blk[kScalesOffset + e / 16u]));
  out[i] = ds * static_cast<float>(static_cast<int>(low | (high << 4)) - 32);
}
