// TQ1_0: ggml's 1.6-bit ternary weights. 256 elements per block: uint8
// qs[48] (5 trits per byte), uint8 qh[4] (4 trits per byte), f16 d; 54 bytes.
//
// Trits t in {0, 1, 2} mean t - 1 in {-1, 0, +1}; value = (t - 1) * d.
// A byte holds its trits as a base-3 fixed-point fraction: the trits
// t0..t4 (most significant first) form T = sum t_k 3^(4-k) < 243, stored as
// ceil(T * 256 / 243). Trit k is read back as ((uint8)(byte * 3^k) * 3) >> 8.
// Element order within a block (e = element index):
//   qs[m],      m < 32:  trit k is e = 32k + m            (elements   0..159)
//   qs[32 + m], m < 16:  trit k is e = 160 + 16k + m      (elements 160..239)
//   qh[j],      j < 4:   trit k < 4 is e = 240 + 4k + j   (elements 240..255);
//                        trit 4 is always 0 (the 4 trits are shifted up one).
//
// quantize_row_tq1_0 produces the same bytes as ggml's quantize_row_tq1_0_ref:
// d = max |x| (running ggml MAX), t = lroundf(x / d) + 1 (half away from
// zero, id = 0 for d == 0), the same 8-bit wrap-around arithmetic. All-zero
// block: d = 0, every trit 1. Non-finite input is handled as in TQ2_0
// (tq2_0.h): NaN resets the running max, lroundf(NaN/inf) gives trit 1,
// and out-of-range trits after a reset wrap modulo 256 as ggml's uint8 math.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "trix/core/fp16.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/q8_k.h"

namespace trix {

namespace detail {

// Packs `count` trits (first one most significant) the way ggml does, with
// its uint8 wrap-around for trits outside {0, 1, 2}.
inline uint8_t tq1_pack(const int32_t* trits, size_t count, bool shift_up) {
  uint8_t q = 0;
  for (size_t k = 0; k < count; ++k) {
    q = static_cast<uint8_t>(q * 3);
    q = static_cast<uint8_t>(static_cast<uint32_t>(q) + static_cast<uint32_t>(trits[k]));
  }
  if (shift_up) q = static_cast<uint8_t>(q * 3);
  return static_cast<uint8_t>((static_cast<uint32_t>(q) * 256u + 242u) / 243u);
}

// Trit k (0 = most significant) of a packed byte: 0, 1 or 2 for any byte.
inline int32_t tq1_trit(uint8_t byte, uint32_t k) {
  constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t q = static_cast<uint8_t>(byte * kPow3[k]);
  return static_cast<int32_t>((static_cast<uint32_t>(q) * 3u) >> 8);
}

inline int32_t tq1_quantize_trit(float v, float id) {
  return wrap_to_int32(x86_lroundf(v * id) + 1);
}

// Calls f(element_index, trit) for the 256 trits of a block, in the
// element order documented above (the order ggml's dequantizer writes).
template <class F>
inline void tq1_for_each_trit(const BlockTQ1_0& blk, F&& f) {
  for (uint32_t k = 0; k < 5; ++k) {
    for (uint32_t m = 0; m < 32; ++m) f(32 * k + m, tq1_trit(blk.qs[m], k));
  }
  for (uint32_t k = 0; k < 5; ++k) {
    for (uint32_t m = 0; m < 16; ++m) f(160 + 16 * k + m, tq1_trit(blk.qs[32 + m], k));
  }
  for (uint32_t k = 0; k < 4; ++k) {
    for (uint32_t j = 0; j < 4; ++j) f(240 + 4 * k + j, tq1_trit(blk.qh[j], k));
  }
}

}  // namespace detail

// x: n floats; y: n / 256 blocks. Throws trix::Error if n % 256 != 0.
inline void quantize_row_tq1_0(const float* x, BlockTQ1_0* y, size_t n) {
  constexpr size_t kQK = BlockTQ1_0::kElements;
  trix::detail::require_multiple("quantize_row_tq1_0", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = trix::detail::ggml_max(amax, std::fabs(x[j]));
    const float d = amax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    int32_t t[5];
    for (size_t m = 0; m < 32; ++m) {
      for (size_t k = 0; k < 5; ++k) t[k] = detail::tq1_quantize_trit(x[32 * k + m], id);
      y[b].qs[m] = detail::tq1_pack(t, 5, false);
    }
    for (size_t m = 0; m < 16; ++m) {
      for (size_t k = 0; k < 5; ++k) t[k] = detail::tq1_quantize_trit(x[160 + 16 * k + m], id);
      y[b].qs[32 + m] = detail::tq1_pack(t, 5, false);
    }
    for (size_t j = 0; j < 4; ++j) {
      for (size_t k = 0; k < 4; ++k) t[k] = detail::tq1_quantize_trit(x[240 + 4 * k + j], id);
      y[b].qh[j] = detail::tq1_pack(t, 4, true);
    }
  }
}

// x: n / 256 blocks; y: n floats, y = (t - 1) * d. Throws trix::Error if
// n % 256 != 0. Every byte value decodes to valid trits.
inline void dequantize_row_tq1_0(const BlockTQ1_0* x, float* y, size_t n) {
  constexpr size_t kQK = BlockTQ1_0::kElements;
  trix::detail::require_multiple("dequantize_row_tq1_0", n, kQK);
  for (size_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = fp16_to_fp32(x[b].d);
    trix::detail::tq1_for_each_trit(x[b], [&](uint32_t e, int32_t t) {
      y[e] = static_cast<float>(t - 1) * d;
    });
  }
}

// Dot product of a TQ1_0 row with a Q8_K row of n elements (n % 256 == 0,
// else trix::Error). Same float contract as vec_dot_tq2_0_q8_k:
//   acc = 0.0f
//   for each block b in order:
//     isum = sum_i (t_i - 1) * a[b].qs[i]            exact int32, |isum| <= 32768
//     acc  = fma(float(isum), fp16_to_fp32(w[b].d) * a[b].d, acc)
//   return acc
inline float vec_dot_tq1_0_q8_k(const BlockTQ1_0* w, const BlockQ8_K* a, size_t n) {
  constexpr size_t kQK = BlockTQ1_0::kElements;
  static_assert(BlockQ8_K::kElements == kQK);
  trix::detail::require_multiple("vec_dot_tq1_0_q8_k", n, kQK);
  float acc = 0.0f;
  for (size_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    trix::detail::tq1_for_each_trit(w[b], [&](uint32_t e, int32_t t) {
      isum += (t - 1) * a[b].qs[e];
    });
    acc = std::fma(static_cast<float>(isum), fp16_to_fp32(w[b].d) * a[b].d, acc);
  }
  return acc;
}

}  // namespace trix
