// Q5_K: ggml's 5-bit k-quant. 256 elements per super-block: f16 d, f16 dmin,
// uint8 scales[12] (the Q4_K layout of eight 6-bit scales and mins), uint8
// qh[32] (fifth bits), uint8 qs[128] (low 4 bits), 176 bytes.
//
// Layout (ggml's): the low 4 bits of element e sit where Q4_K keeps its
// code (trix/formats/q4_k.h: chunk c = e / 64, low nibble of qs[32c + l] for
// l = e % 64 < 32, else the high nibble of qs[32c + l - 32]); the fifth bit
// is bit e / 32 of qh[e % 32]. value = (d * sc) * q - (dmin * m) per
// 32-element sub-block, unfused, as ggml's dequantize_row_q5_K.
//
// quantize_row_q5_k gives the bytes of ggml's quantize_row_q5_K_ref: the
// Q4_K scheme (trix::detail::quantize_k4_superblock) with codes 0..31 and
// make_qkx2_quants(32, 31, ..., -0.5, 0.1, 15, false).
//
// vec_dot_q5_k_q8_k: the float contract of vec_dot_q4_k_q8_k with q the
// 5-bit code (|isum_q| < 2^26; float(isum_q) may round, as there).
#pragma once

#include <cstddef>
#include <cstdint>

#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/kquant.h"
#include "trix/formats/q4_k.h"
#include "trix/formats/q8_k.h"

namespace trix {

namespace detail {

// Code of element e (0..255) of a Q5_K block: 0..31.
inline int32_t q5_k_code(const BlockQ5_K& blk, size_t e) {
  const size_t l = e % 64;
  const uint8_t byte = blk.qs[32 * (e / 64) + (l % 32)];
  const int32_t low = l < 32 ? (byte & 15) : (byte >> 4);
  return low | static_cast<int32_t>((blk.qh[e % 32] >> (e / 32)) & 1u) << 4;
}

}  // namespace detail

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
inline void quantize_row_q5_k(const float* x, BlockQ5_K* y, size_t n) {
  constexpr size_t kQK = BlockQ5_K::kElements;
  trix::detail::require_multiple("quantize_row_q5_k", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    uint8_t L[kQK];
    detail::quantize_k4_superblock(x, detail::kQ5KSearch, y[b], L);
    for (auto& h : y[b].qh) h = 0;
    for (size_t e = 0; e < kQK; ++e) {
      if (L[e] > 15) y[b].qh[e % 32] |= static_cast<uint8_t>(1u << (e / 32));
    }
    detail::pack_k4_nibbles(L, y[b].qs);
  }
}

// x: n / 256 blocks; y: n floats. Throws trix::Error if n % 256 != 0.
inline void dequantize_row_q5_k(const BlockQ5_K* x, float* y, size_t n) {
  detail::dequantize_k4<BlockQ5_K, &detail::q5_k_code>("dequantize_row_q5_k", x, y, n);
}

// Dot product of a Q5_K row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error); vec_dot_q4_k_q8_k's float contract.
inline float vec_dot_q5_k_q8_k(const BlockQ5_K* w, const BlockQ8_K* a, size_t n) {
  return detail::vec_dot_k4_q8_k<BlockQ5_K, &detail::q5_k_code>("vec_dot_q5_k_q8_k", w, a, n);
}

}  // namespace trix
