// Load-time repacking of ternary weights (TQ2_0, TQ1_0, I2_S) into the one
// layout the fast CPU kernels read ("packed4"), and the per-token activation
// preparation they take. Non-SIMD; the kernels are in ternary_packed-inl.h.
//
// Why repack: the kernels process 4 rows at a time (they share each
// activation load), and 4 row-major rows are 4 short streams that the
// hardware prefetcher does not follow well. packed4 stores those 4 rows as
// one sequential 64-byte-aligned stream, with the block scales converted to
// f32 once (exact: every f16 is an f32) and grouped after the codes.
//
// packed4 layout, per group g of 4 rows (rows 4g..4g+3; a last partial group
// is padded with all-zero rows: codes 1, scale 0):
//   codes:  for each 256-element block b, for each row i of the group, the
//           64 code bytes of that row's block in TQ2_0's byte order (byte
//           j + m, j in {0, 32}, m < 32, holds element 4j + m + 32n at bits
//           2n; code c means c - 1), i.e. the lanes16 lane l reads bytes
//           4l..4l+3. Offset (b * 4 + i) * 64.
//   scales: (block-scaled formats only) f32 d of (b, i) at float index
//           b * 4 + i, starting at offset n_blocks * 256, padded to 64 bytes.
// group_bytes() is a multiple of 64 and the buffer is 64-byte aligned, so
// every code load is an aligned full cache line.
//
// Memory: TQ2_0 66 B -> 64 + 4 B per 256 weights (+3%); TQ1_0 54 B -> 68 B
// (+26%: its base-3 bytes are decoded once at load instead of per token,
// which is what keeps TQ1_0 at TQ2_0's speed); I2_S 64 B -> 64 B (no block
// scales; the tensor scale is kept in the view). The original mapping may
// be dropped after packing.
//
// Activations (prepare_act_*): per token, per block, 320 bytes: the 256
// int8 values permuted so that bytes [64n, 64n + 64) are the ones that meet
// code field n of code bytes 0..63 (x[32n + j] for j < 32, then
// x[128 + 32n + j]), then 16 int32 "init" values: per lane l, minus the sum
// of the 16 activations lane l meets (the -1 of the codes, applied once),
// plus kMagicBits for the block-scaled formats (see below). After the blocks:
// n_blocks f32 activation scales (Q8_K d; for I2_S, slot 0 holds the
// per-token scale), padded to 64 bytes.
//
// kMagicBits: 0x4B400000 is 1.5 * 2^23 as a float. An int32 lane sum s with
// |s| < 2^22 added to it gives the bits of the float 1.5 * 2^23 + s, so
// bits_float(kMagicBits + s) - 1.5 * 2^23 == float(s) exactly. The kernels
// use this instead of a convert instruction; the result is the same bits.
// Lane sums of one block are at most 16 * 2 * 128 = 4096 in magnitude
// (codes 0..3, |q| <= 128).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>


#include "trix/core/error.h"
#include "trix/core/fp16.h"
#include "trix/core/huge_page_buffer.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/tq1_0.h"

namespace trix::cpu {

inline constexpr size_t kPackedRows = 4;             // rows per group
inline constexpr size_t kPackedBlock = 256;          // elements per block
inline constexpr size_t kPackedCodeBytes = 64;       // per row per block
inline constexpr size_t kPackedActBlockBytes = 320;  // 256 permuted int8 + 16 int32
inline constexpr uint32_t kMagicBits = 0x4B400000u;
inline constexpr float kMagicFloat = 12582912.0f;  // bits_float(kMagicBits)

inline constexpr size_t round_up_64(size_t n) { return (n + 63) / 64 * 64; }

// What the kernels read: a non-owning view of packed4 weights.
struct PackedTernaryView {
  const uint8_t* data = nullptr;
  size_t rows = 0;
  size_t cols = 0;          // logical columns (the activation length)
  size_t n_blocks = 0;      // ceil(cols / 256); a partial last block is zero-padded
  bool block_scales = true; // false for I2_S (integer contract, tensor scale)
  float tensor_scale = 1.0f;

  size_t n_groups() const { return (rows + kPackedRows - 1) / kPackedRows; }
  size_t scale_bytes() const { return block_scales ? round_up_64(n_blocks * kPackedRows * 4) : 0; }
  size_t group_bytes() const { return n_blocks * kPackedRows * kPackedCodeBytes + scale_bytes(); }
  const uint8_t* group(size_t g) const { return data + g * group_bytes(); }
  const float* scales(size_t g) const {
    return reinterpret_cast<const float*>(group(g) + n_blocks * kPackedRows * kPackedCodeBytes);
  }
};

// Owning packed4 weights.
class PackedTernary {
 public:
  PackedTernary() = default;
  PackedTernary(size_t rows, size_t cols, bool block_scales, float tensor_scale) {
    view_.rows = rows;
    view_.cols = cols;
    view_.n_blocks = (cols + kPackedBlock - 1) / kPackedBlock;
    view_.block_scales = block_scales;
    view_.tensor_scale = tensor_scale;
    buf_ = HugePageBuffer(view_.n_groups() * view_.group_bytes());
    view_.data = buf_.data();
  }
  const PackedTernaryView& view() const { return view_; }
  uint8_t* mutable_group(size_t g) { return buf_.data() + g * view_.group_bytes(); }
  size_t bytes() const { return buf_.size(); }

 private:
  HugePageBuffer buf_;
  PackedTernaryView view_;
};

namespace detail {

// Fills one packed4 tensor; row_block(r, b, codes64, &scale) writes row r's
// block b as 64 TQ2_0-order code bytes (and its f32 scale).
template <class RowBlock>
PackedTernary pack(size_t rows, size_t cols, bool block_scales, float tensor_scale,
                   RowBlock&& row_block) {
  PackedTernary p(rows, cols, block_scales, tensor_scale);
  const PackedTernaryView& v = p.view();
  for (size_t g = 0; g < v.n_groups(); ++g) {
    uint8_t* codes = p.mutable_group(g);
    auto* scales = reinterpret_cast<float*>(codes + v.n_blocks * kPackedRows * kPackedCodeBytes);
    for (size_t b = 0; b < v.n_blocks; ++b) {
      for (size_t i = 0; i < kPackedRows; ++i) {
        uint8_t* dst = codes + (b * kPackedRows + i) * kPackedCodeBytes;
        float scale = 0.0f;
        const size_t r = g * kPackedRows + i;
        if (r < rows) {
          row_block(r, b, dst, &scale);
        } else {
          std::memset(dst, 0x55, kPackedCodeBytes);  // code 1 in every field: weight 0
        }
        if (block_scales) scales[b * kPackedRows + i] = scale;
      }
    }
  }
  return p;
}

inline void set_tq2_code(uint8_t* qs, size_t e, uint32_t code) {
  qs[trix::detail::code_byte<BlockTQ2_0>(e)] |=
      static_cast<uint8_t>(code << trix::detail::code_shift<BlockTQ2_0>(e));
}

}  // namespace detail

// TQ2_0 rows (row r at data + r * row_bytes, cols % 256 == 0).
inline PackedTernary pack_tq2_0(const void* data, size_t rows, size_t cols, size_t row_bytes) {
  trix::detail::require_multiple("pack_tq2_0 (cols)", cols, BlockTQ2_0::kElements);
  const auto* base = static_cast<const uint8_t*>(data);
  return detail::pack(rows, cols, true, 1.0f, [&](size_t r, size_t b, uint8_t* dst, float* s) {
    const auto* blk = reinterpret_cast<const BlockTQ2_0*>(base + r * row_bytes) + b;
    std::memcpy(dst, blk->qs, kPackedCodeBytes);
    *s = fp16_to_fp32(blk->d);
  });
}

// TQ1_0 rows: trits decoded to TQ2_0 codes once (same values, same scale).
inline PackedTernary pack_tq1_0(const void* data, size_t rows, size_t cols, size_t row_bytes) {
  trix::detail::require_multiple("pack_tq1_0 (cols)", cols, BlockTQ1_0::kElements);
  const auto* base = static_cast<const uint8_t*>(data);
  return detail::pack(rows, cols, true, 1.0f, [&](size_t r, size_t b, uint8_t* dst, float* s) {
    const auto* blk = reinterpret_cast<const BlockTQ1_0*>(base + r * row_bytes) + b;
    std::memset(dst, 0, kPackedCodeBytes);
    trix::detail::tq1_for_each_trit(*blk, [&](uint32_t e, int32_t t) {
      detail::set_tq2_code(dst, e, static_cast<uint32_t>(t));
    });
    *s = fp16_to_fp32(blk->d);
  });
}

// I2_S tensor (rows * cols / 4 code bytes then the scale trailer; cols %
// 128 == 0). A 128-weight I2_S group holds in byte j the same 4 elements as
// byte j of a TQ2_0 half block, only with the fields in the opposite bit
// order, so the repack is a byte lookup.
inline PackedTernary pack_i2_s(const uint8_t* data, size_t rows, size_t cols, float tensor_scale) {
  trix::detail::require_multiple("pack_i2_s (cols)", cols, BlockI2_S::kElements);
  static_assert(BlockI2_S::kGroupBytes == BlockTQ2_0::kGroupBytes &&
                BlockI2_S::kGroupCodes == BlockTQ2_0::kGroupCodes);
  uint8_t lut[256];
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t out = 0;
    for (size_t f = 0; f < 4; ++f) {
      out |= ((byte >> BlockI2_S::code_shift(f)) & 3u) << BlockTQ2_0::code_shift(f);
    }
    lut[byte] = static_cast<uint8_t>(out);
  }
  const size_t row_bytes = cols / 4;
  return detail::pack(rows, cols, false, tensor_scale, [&](size_t r, size_t b, uint8_t* dst, float*) {
    const uint8_t* src = data + r * row_bytes + b * kPackedCodeBytes;
    const size_t avail = std::min(kPackedCodeBytes, row_bytes - b * kPackedCodeBytes);
    for (size_t j = 0; j < avail; ++j) dst[j] = lut[src[j]];
    for (size_t j = avail; j < kPackedCodeBytes; ++j) dst[j] = 0x55;  // padding: weight 0
  });
}

// The packed4 repack of a weight matrix stored in `format` (the formats
// whose traits say Prepare::Packed4), tensor scale 1 for I2_S (its scale is
// applied afterwards, as the reference path does). Throws trix::Error for a
// format with no repack.
inline PackedTernary pack_packed4(FormatId format, const void* data, size_t rows, size_t cols,
                                  size_t row_bytes) {
  switch (format) {
    case FormatId::TQ2_0: return pack_tq2_0(data, rows, cols, row_bytes);
    case FormatId::TQ1_0: return pack_tq1_0(data, rows, cols, row_bytes);
    case FormatId::I2_S: return pack_i2_s(static_cast<const uint8_t*>(data), rows, cols, 1.0f);
    default:
      throw Error(std::string("pack_packed4: no packed4 repack of ") + format_info(format).name);
  }
}

// Row r, block b of packed weights back as a TQ2_0 block (scale through
// f16, exact for packed TQ2_0/TQ1_0): the round-trip check of the repack.
inline BlockTQ2_0 unpack_block(const PackedTernaryView& v, size_t r, size_t b) {
  assert(r < v.rows && b < v.n_blocks);
  const size_t g = r / kPackedRows, i = r % kPackedRows;
  BlockTQ2_0 out;
  std::memcpy(out.qs, v.group(g) + (b * kPackedRows + i) * kPackedCodeBytes, kPackedCodeBytes);
  out.d = v.block_scales ? fp32_to_fp16(v.scales(g)[b * kPackedRows + i]) : fp32_to_fp16(1.0f);
  return out;
}

// ------------------------------------------------------------- activations

// Bytes of one prepared token for `n_blocks` blocks.
inline constexpr size_t prepared_act_bytes(size_t n_blocks) {
  return n_blocks * kPackedActBlockBytes + round_up_64(n_blocks * 4);
}

namespace detail {

// Permutes 256 int8 values of one block and writes the lane init values.
inline void prepare_block(const int8_t* q, uint8_t* out, uint32_t magic) {
  for (size_t n = 0; n < 4; ++n) {
    std::memcpy(out + 64 * n, q + 32 * n, 32);
    std::memcpy(out + 64 * n + 32, q + 128 + 32 * n, 32);
  }
  int32_t init[16];
  for (size_t lane = 0; lane < 16; ++lane) {
    int32_t s = 0;
    for (size_t n = 0; n < 4; ++n) {
      for (size_t i = 0; i < 4; ++i) s += static_cast<int8_t>(out[64 * n + 4 * lane + i]);
    }
    init[lane] = static_cast<int32_t>(magic - static_cast<uint32_t>(s));
  }
  std::memcpy(out + 256, init, sizeof init);
}

}  // namespace detail

// One token of Q8_K activations (n_blocks blocks) -> prepared bytes (out:
// prepared_act_bytes(n_blocks), 64-byte aligned).
inline void prepare_act_q8_k(const BlockQ8_K* x, size_t n_blocks, uint8_t* out) {
  auto* scales = reinterpret_cast<float*>(out + n_blocks * kPackedActBlockBytes);
  for (size_t b = 0; b < n_blocks; ++b) {
    detail::prepare_block(x[b].qs, out + b * kPackedActBlockBytes, kMagicBits);
    scales[b] = x[b].d;
  }
}

// One token of per-token int8 activations (cols values, scale = I2_S's
// activation scale s) -> prepared bytes; a partial last block is padded with
// zeros.
inline void prepare_act_i8(const int8_t* q, size_t cols, float act_scale, uint8_t* out) {
  const size_t n_blocks = (cols + kPackedBlock - 1) / kPackedBlock;
  auto* scales = reinterpret_cast<float*>(out + n_blocks * kPackedActBlockBytes);
  for (size_t b = 0; b < n_blocks; ++b) {
    int8_t tmp[kPackedBlock] = {};
    std::memcpy(tmp, q + b * kPackedBlock, std::min(kPackedBlock, cols - b * kPackedBlock));
    detail::prepare_block(tmp, out + b * kPackedActBlockBytes, 0u);
    scales[b] = 0.0f;
  }
  scales[0] = act_scale;
}

// Arguments of the packed kernels: y[t * y_stride + r] for tokens t in
// [0, n_tok) and the rows of the groups the call is given. acts: n_tok
// prepared tokens, act_stride bytes apart (>= prepared_act_bytes, multiple
// of 64).
struct PackedMatmulArgs {
  PackedTernaryView w;
  const uint8_t* acts = nullptr;
  size_t act_stride = 0;
  size_t n_tok = 0;
  float* y = nullptr;
  size_t y_stride = 0;
};

}  // namespace trix::cpu
