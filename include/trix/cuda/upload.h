// Weight preparation for the GPU kernels, on the host, once per tensor at
// upload: formats no device body reads are converted to the layout of one
// that does. TQ1_0 (base-3, 1.6 bits) becomes TQ2_0 blocks with the same
// trits and scale, as the CPU path's packed4 repack does (same conversion,
// trix/kernels/gemv_tq1_0_q8_k_ref.h), so gemv_tq2_0_q8_k runs it and gives
// the TQ1_0 x Q8_K contract's bits.
#pragma once

#include <cstddef>

#include "trix/formats/blocks.h"
#include "trix/kernels/gemv_tq1_0_q8_k_ref.h"

namespace trix::cuda {

// n_blocks TQ1_0 blocks (rows of k / 256 each, back to back) -> as many
// TQ2_0 blocks; row r of the result is at dst + r * (k / 256), so GemvArgs
// over it use w_row_bytes = (k / 256) * sizeof(BlockTQ2_0).
inline void upload_tq1_0_as_tq2_0(const BlockTQ1_0* src, size_t n_blocks, BlockTQ2_0* dst) {
  for (size_t b = 0; b < n_blocks; ++b) dst[b] = kernels::tq1_0_as_tq2_0(src[b]);
}

}  // namespace trix::cuda
