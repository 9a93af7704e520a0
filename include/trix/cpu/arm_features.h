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

// Brackets the NEON code that inlines vdotq_s32: the functions between them
// are compiled with +dotprod (Highway's NEON target does not enable it), and
// called only where arm_has_dotprod() or the kSdot = false path makes that
// safe (see arm_dot-inl.h). clang takes a function attribute, GCC a target
// pragma; both are undone by TRIX_ARM_DOTPROD_END.
#if defined(__clang__)
#define TRIX_ARM_DOTPROD_BEGIN \
  _Pragma("clang attribute push(__attribute__((target(\"dotprod\"))), apply_to = function)")
#define TRIX_ARM_DOTPROD_END _Pragma("clang attribute pop")
#else
#define TRIX_ARM_DOTPROD_BEGIN \
  _Pragma("GCC push_options") _Pragma("GCC target(\"arch=armv8.2-a+dotprod\")")
#define TRIX_ARM_DOTPROD_END _Pragma("GCC pop_options")
#endif

// In per-target code (after hwy/highway.h): whether the target being
// compiled is one that trix/cpu/arm_dot-inl.h gives byte-dot helpers to
// (Highway's NEON or SVE targets on aarch64).
#define TRIX_ARM_BYTES_TARGET                                                         \
  (HWY_ARCH_ARM_A64 && (HWY_TARGET == HWY_NEON || HWY_TARGET == HWY_SVE ||            \
                        HWY_TARGET == HWY_SVE2 || HWY_TARGET == HWY_SVE_256 ||        \
                        HWY_TARGET == HWY_SVE2_128))
