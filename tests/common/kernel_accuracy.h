// A kernel's output against its reference under the accuracy contract of
// its spec (trix::kernels::<name>::kAccuracy, generated from the spec's
// `accuracy` field): bit_exact compares bits, tolerance allows rel * scale.
// Changing a spec's accuracy changes what the kernel tests demand.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "trix/kernels/accuracy.h"

namespace trix::test {

// `magnitude`: the scale of the sum (e.g. sum |w x|) where the test knows
// it; the tolerance is relative to max(|want|, magnitude).
inline ::testing::AssertionResult meets_contract(const kernels::Accuracy& contract, float want, float got,
                                                 double magnitude = 0) {
  if (contract.accepts(want, got, magnitude)) return ::testing::AssertionSuccess();
  char msg[200];
  if (contract.bit_exact) {
    std::snprintf(msg, sizeof msg, "bit-exact contract: want %.9g (0x%08x), got %.9g (0x%08x)", want,
                  static_cast<unsigned>(std::bit_cast<uint32_t>(want)), got,
                  static_cast<unsigned>(std::bit_cast<uint32_t>(got)));
  } else {
    std::snprintf(msg, sizeof msg, "tolerance contract (rel %g): want %.9g, got %.9g, |diff| %g > %g",
                  contract.rel, want, got, std::fabs(static_cast<double>(got) - want),
                  contract.rel * std::fmax(std::fabs(static_cast<double>(want)), magnitude));
  }
  return ::testing::AssertionFailure() << msg;
}

}  // namespace trix::test
