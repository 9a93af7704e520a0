// A kernel's accuracy contract against its scalar reference, as its spec's
// `accuracy` field states it (generated as trix::kernels::<name>::kAccuracy).
// Tests read the contract from there, so a spec that loosens or tightens it
// changes what the tests demand.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace trix::kernels {

struct Accuracy {
  bool bit_exact = true;
  double rel = 0;  // tolerance: |got - want| <= rel * max(|want|, magnitude)

  static constexpr Accuracy bit_exact_contract() { return {true, 0}; }
  static constexpr Accuracy tolerance(double rel) { return {false, rel}; }

  // Whether `got` meets the contract for the reference value `want`;
  // `magnitude` is the scale of the sum (e.g. sum |w x|), if known.
  bool accepts(float want, float got, double magnitude = 0) const {
    if (bit_exact) return std::bit_cast<uint32_t>(want) == std::bit_cast<uint32_t>(got);
    if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
    const double scale = std::fmax(std::fabs(static_cast<double>(want)), magnitude);
    return std::fabs(static_cast<double>(got) - static_cast<double>(want)) <= rel * scale;
  }
};

}  // namespace trix::kernels
