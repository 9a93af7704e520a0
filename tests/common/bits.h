// Bit-for-bit float comparison for tests of exact contracts: unlike ==, it
// tells -0 from +0 and finds a NaN equal to the same NaN.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace trix::test {

inline bool same_bits(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

// The n floats at a and b, all of them.
inline bool same_bits(const float* a, const float* b, size_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}

}  // namespace trix::test
