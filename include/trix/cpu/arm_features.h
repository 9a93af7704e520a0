// Run-time CPU features that Highway's target detection does not report.
// Non-SIMD; safe to include anywhere.
#pragma once

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace trix::cpu {

// Whether the CPU executes the Armv8.2 dot-product instructions (sdot/udot,
// FEAT_DotProd). Highway 1.0.3's NEON target requires only AES, and common
// cores (Cortex-A53/A57/A72, Raspberry Pi 4) lack dotprod, so the NEON
// kernels check this once per call and fall back to vmull/vpadal. SVE
// targets do not need it: svdot is part of SVE.
inline bool arm_has_dotprod() {
#if defined(__aarch64__) && defined(__linux__) && defined(HWCAP_ASIMDDP)
  static const bool has = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
  return has;
#else
  return false;
#endif
}

}  // namespace trix::cpu
