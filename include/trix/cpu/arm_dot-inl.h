// Per-target helper of the ternary kernels on aarch64 NEON: the "dot of 4
// adjacent bytes into an int32 lane" step of the lanes16 contract, for 16
// code bytes (4 lanes) and all 4 of their 2-bit fields at once. Included
// once per Highway target by the kernel -inl.h files; empty on other targets.
//
// Dot16<kSdot>(acc, codes, q0..q3): lane j of acc gets
//   sum over fields n < 4 and bytes k < 4 of field_n(codes[4j + k]) * qn[4j + k]
// with field_n(c) = (c >> 2n) & 3 (0..3). Two instruction paths, same sums:
//  - kSdot: four vdotq_s32 (FEAT_DotProd; the caller checks arm_has_dotprod);
//  - else:  vmull_s8 products, pairwise-added to int16 (vpaddq_s16), the four
//           fields added in int16, then one vpadalq_s16 into the int32 lanes.
//           Range: |c * q| <= 3 * 128 = 384, a pair <= 768, four fields'
//           pairs <= 3072 < 32767: no int16 overflow.
// Both are compiled for armv8.2-a+dotprod (GCC inlines vdotq_s32, which
// arm_neon.h declares for that arch, only into functions with at least its
// flags), but only the kSdot path contains a dot-product or other v8.1+
// instruction (no atomics, no rounding-doubling ops here); the qemu run on a CPU without dotprod (cortex-a57,
// tests/aarch64/run.sh) executes the other one and would trap otherwise.
#if defined(TRIX_CPU_ARM_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_ARM_DOT_INL_H_
#undef TRIX_CPU_ARM_DOT_INL_H_
#else
#define TRIX_CPU_ARM_DOT_INL_H_
#endif

#include "hwy/highway.h"
#include "trix/cpu/arm_features.h"

#if HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64
#include <arm_neon.h>

HWY_BEFORE_NAMESPACE();
TRIX_ARM_DOTPROD_BEGIN
namespace trix::cpu {
namespace HWY_NAMESPACE {
namespace arm_dot {

// One sdot: lane j of acc += sum over k < 4 of a[4j + k] * b[4j + k].
// clang 14's arm_neon.h declares vdotq_s32 only when the whole translation
// unit targets +dotprod (not under a target attribute, as GCC's does), so
// clang gets the instruction itself (allowed: this region has the dotprod
// target attribute).
HWY_INLINE int32x4_t Sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__clang__) && !defined(__ARM_FEATURE_DOTPROD)
  __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
#else
  return vdotq_s32(acc, a, b);
#endif
}

HWY_INLINE int16x8_t PairSums(int8x16_t c, int8x16_t q) {
  return vpaddq_s16(vmull_s8(vget_low_s8(c), vget_low_s8(q)), vmull_high_s8(c, q));
}

template <bool kSdot>
HWY_INLINE int32x4_t Dot16(int32x4_t acc, uint8x16_t codes, int8x16_t q0, int8x16_t q1,
                           int8x16_t q2, int8x16_t q3) {
  const uint8x16_t m3 = vdupq_n_u8(3);
  const int8x16_t c0 = vreinterpretq_s8_u8(vandq_u8(codes, m3));
  const int8x16_t c1 = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(codes, 2), m3));
  const int8x16_t c2 = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(codes, 4), m3));
  const int8x16_t c3 = vreinterpretq_s8_u8(vshrq_n_u8(codes, 6));  // top field: no mask
  if constexpr (kSdot) {
    acc = Sdot(acc, c0, q0);
    acc = Sdot(acc, c1, q1);
    acc = Sdot(acc, c2, q2);
    return Sdot(acc, c3, q3);
  } else {
    int16x8_t s = PairSums(c0, q0);
    s = vaddq_s16(s, PairSums(c1, q1));
    s = vaddq_s16(s, PairSums(c2, q2));
    s = vaddq_s16(s, PairSums(c3, q3));
    return vpadalq_s16(acc, s);
  }
}

}  // namespace arm_dot
}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
TRIX_ARM_DOTPROD_END
HWY_AFTER_NAMESPACE();

#endif  // HWY_NEON && A64
#endif  // TRIX_CPU_ARM_DOT_INL_H_
