// Arguments of a GEMV y = W x, shared by every backend's launch wrapper.
#pragma once

#include <cstdint>

namespace trix {

// W: `rows` rows of `k` elements in the kernel's weight format, row r at
// w + r * w_row_bytes. x: k elements in the activation format (one row).
// y: rows floats. k must be a multiple of both formats' block sizes.
struct GemvArgs {
  const void* w;
  uint64_t w_row_bytes;
  const void* x;
  uint64_t k;
  float* y;
  uint64_t rows;
};

}  // namespace trix
