// Opens the per-target region of a trix/cpu/*-inl.h kernel file: include it
// where HWY_BEFORE_NAMESPACE() would stand, and trix/cpu/target_end-inl.h
// where HWY_AFTER_NAMESPACE() would. Like Highway's own per-target headers it
// is included once per target, so it has no include guard (and is not a
// header to include on its own: tests/headers leaves the pair out).
//
// Besides Highway's target attributes it gives the region, on x86:
//   AVX3_DL: Highway 1.0.3's AVX3_DL target string names avxvnni but not
//     avx512vnni, although its runtime check requires AVX512-VNNI; enable
//     the instruction for the region's AVX3_DL code (lambdas included).
//     With TRIX_TARGET_WITH_GFNI defined, gfni too: Highway's AVX3_DL check
//     does not include GFNI, so GFNI instructions belong only on a path
//     taken after the file's own runtime check.
//   With TRIX_TARGET_QUIET_MAYBE_UNINITIALIZED defined (GCC only): no
//     -Wmaybe-uninitialized. GCC 12 reports the undefined-on-purpose start
//     values inside its own AVX-512 intrinsic headers (broadcast, insert,
//     gather, cvtph, _mm512_cvtepi32_ps) as maybe-uninitialized once they
//     are inlined into the region; the values are fully defined.
// Define the options just before including this; target_end-inl.h undoes
// every push in reverse order and #undefs them.
#include "hwy/highway.h"

// clang applies only the first pushed target attribute to a function, so
// on AVX3_DL it gets one attribute with Highway's features and ours.
#if !(HWY_TARGET == HWY_AVX3_DL && defined(__clang__))
HWY_BEFORE_NAMESPACE();
#endif
#if HWY_TARGET == HWY_AVX3_DL
#if defined(__clang__)
#if defined(TRIX_TARGET_WITH_GFNI)
HWY_PUSH_ATTRIBUTES(HWY_TARGET_STR ",avx512vnni,gfni")
#else
HWY_PUSH_ATTRIBUTES(HWY_TARGET_STR ",avx512vnni")
#endif
#else
#pragma GCC push_options
#if defined(TRIX_TARGET_WITH_GFNI)
#pragma GCC target("avx512vnni,gfni")
#else
#pragma GCC target("avx512vnni")
#endif
#endif
#endif
#if defined(TRIX_TARGET_QUIET_MAYBE_UNINITIALIZED) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
