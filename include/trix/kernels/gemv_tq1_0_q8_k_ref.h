// Scalar reference of the TQ1_0 x Q8_K GEMV: the lanes16 contract of
// gemv_tq2_0_q8_k_ref.h over the same values. TQ1_0's trits are rewritten as
// TQ2_0 codes (trit t -> code t, same f16 scale), so lane l of a block owns
// the same 16 elements in both formats and the fast kernels can share one
// body (the packed4 repack does exactly this conversion, once, at load).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/formats/tq1_0.h"
#include "trix/kernels/gemv_args.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

namespace trix::kernels {

// One TQ1_0 block as the TQ2_0 block with the same codes and scale.
inline BlockTQ2_0 tq1_0_as_tq2_0(const BlockTQ1_0& b) {
  BlockTQ2_0 out;
  std::memset(out.qs, 0, sizeof out.qs);
  trix::detail::tq1_for_each_trit(b, [&](uint32_t e, int32_t t) {
    out.qs[trix::detail::code_byte<BlockTQ2_0>(e)] |=
        static_cast<uint8_t>(static_cast<uint32_t>(t) << trix::detail::code_shift<BlockTQ2_0>(e));
  });
  out.d = b.d;
  return out;
}

inline float gemv_tq1_0_q8_k_row_ref(const BlockTQ1_0* w_row, const BlockQ8_K* x, size_t k) {
  std::vector<BlockTQ2_0> row(k / BlockTQ1_0::kElements);
  for (size_t b = 0; b < row.size(); ++b) row[b] = tq1_0_as_tq2_0(w_row[b]);
  return gemv_tq2_0_q8_k_row_ref(row.data(), x, k);
}

// GemvArgs with TQ1_0 rows and one Q8_K row of k elements.
inline void gemv_tq1_0_q8_k_ref(const GemvArgs& args) {
  for (uint64_t r = 0; r < args.rows; ++r) {
    const auto* w_row = reinterpret_cast<const BlockTQ1_0*>(
        static_cast<const uint8_t*>(args.w) + r * args.w_row_bytes);
    args.y[r] = gemv_tq1_0_q8_k_row_ref(w_row, static_cast<const BlockQ8_K*>(args.x), args.k);
  }
}

}  // namespace trix::kernels
