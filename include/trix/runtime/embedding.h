// The token embedding lookup: one row of a weight matrix as floats, through
// the format's row dequantizer in the traits table (trix/formats/traits.h).
// No CPU kernels involved, so it is usable wherever the reference ops are.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "trix/formats/traits.h"
#include "trix/runtime/weights.h"

namespace trix {

// Writes row `r` of `w` as `w.cols` floats (times w.scale): the token
// embedding lookup. Precondition: matvec_supported(w.format) (which implies
// a row dequantizer), 0 <= r < rows.
inline void embedding_row(const WeightView& w, int64_t r, float* out) {
  assert(r >= 0 && r < w.rows);
  const FormatTraits& f = format_traits(w.format);
  assert(f.dequantize_row != nullptr && "embedding_row: format without a row dequantizer");
  const size_t n = static_cast<size_t>(w.cols);
  f.dequantize_row(w.row(r), out, n);
  if (w.scale != 1.0f) {
    for (size_t i = 0; i < n; ++i) out[i] *= w.scale;
  }
}

}  // namespace trix
