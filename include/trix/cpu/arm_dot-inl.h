// Per-target helpers of the aarch64 kernels, included once per Highway target
// by the kernel -inl.h files; empty on other targets.
//
// NEON (Highway's NEON target on aarch64):
//  Dot16<kSdot>(acc, codes, q0..q3), for the ternary kernels: lane j of acc
//  gets sum over fields n < 4 and bytes k < 4 of field_n(codes[4j + k]) *
//  qn[4j + k] with field_n(c) = (c >> 2n) & 3 (0..3). Two instruction paths,
//  same sums:
//   - kSdot: four vdotq_s32 (FEAT_DotProd; the caller checks arm_has_dotprod);
//   - else:  vmull_s8 products, pairwise-added to int16 (vpaddq_s16), the four
//            fields added in int16, then one vpadalq_s16 into the int32 lanes.
//            Range: |c * q| <= 3 * 128 = 384, a pair <= 768, four fields'
//            pairs <= 3072 < 32767: no int16 overflow.
// NEON and SVE (HWY_SVE, SVE2, SVE_256, SVE2_128):
//  NeonBytes<kSdot> and SveBytes, the byte-dot steps of the K-quant and Q8_0
//  GEMVs (gemv_kquant-inl.h, gemv_dense-inl.h) on 16-byte vectors, the same
//  operations on both so that one kernel body serves both targets:
//   Dot4(acc, a, b): lane j of acc += sum over k < 4 of a[4j + k] * b[4j + k],
//     a unsigned, b signed. NeonBytes: sdot, else vmull_s8 + vpaddq_s16 +
//     vpadalq_s16 (a pair of products must fit int16: the callers' codes are
//     at most 63, |pair| <= 2 * 63 * 128 = 16128). SveBytes: svdot on
//     vectors predicated to their first 16 bytes (inactive bytes load as 0,
//     so lanes 4.. stay 0; vector-length agnostic).
//   DotTotal32(a, b): the exact sum of the 32 products a[i] * b[i] of two
//     signed byte runs (|sum| <= 32 * 128 * 128 = 2^19). NeonBytes without
//     sdot: vmull_s8 then vpadalq_s16 (one product, <= 16384, per int16).
//  Why 16 bytes on SVE too: the K-quant contracts give each 16 consecutive
//  elements one scale and 4 lanes of their own ("lanes16"), so a 16-byte
//  step needs no per-lane scale vector or lane folding; these GEMVs stream
//  their weights from DRAM once per token, and the common SVE cores
//  (Neoverse N2/V2, Graviton4) have 128-bit vectors anyway.
//
// The NEON code is compiled for armv8.2-a+dotprod (GCC inlines vdotq_s32,
// which arm_neon.h declares for that arch, only into functions with at
// least its flags), but only the kSdot paths contain a dot-product or other
// v8.1+ instruction (no atomics, no rounding-doubling ops here); the qemu
// run on a CPU without dotprod (cortex-a57, tests/aarch64/run.sh) executes
// the others and would trap otherwise. svdot is part of base SVE.
#if defined(TRIX_CPU_ARM_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TRIX_CPU_ARM_DOT_INL_H_
#undef TRIX_CPU_ARM_DOT_INL_H_
#else
#define TRIX_CPU_ARM_DOT_INL_H_
#endif

#include <cstdint>

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

template <bool kSdot>
struct NeonBytes {
  using U8 = uint8x16_t;
  using I32 = int32x4_t;
  static HWY_INLINE U8 Load(const uint8_t* p) { return vld1q_u8(p); }
  static HWY_INLINE U8 And(U8 v, uint8_t mask) { return vandq_u8(v, vdupq_n_u8(mask)); }
  static HWY_INLINE U8 ShiftRight(U8 v, int bits) { return vshlq_u8(v, vdupq_n_s8(static_cast<int8_t>(-bits))); }
  static HWY_INLINE U8 ShiftLeft(U8 v, int bits) { return vshlq_u8(v, vdupq_n_s8(static_cast<int8_t>(bits))); }
  static HWY_INLINE U8 Or(U8 a, U8 b) { return vorrq_u8(a, b); }
  static HWY_INLINE I32 Zero() { return vdupq_n_s32(0); }
  static HWY_INLINE I32 MulAdd(I32 acc, I32 v, int32_t s) { return vmlaq_n_s32(acc, v, s); }
  static HWY_INLINE void Store(I32 v, int32_t* p) { vst1q_s32(p, v); }
  static HWY_INLINE I32 Dot4(I32 acc, U8 a, const int8_t* b) {
    const int8x16_t sa = vreinterpretq_s8_u8(a);
    if constexpr (kSdot) {
      return Sdot(acc, sa, vld1q_s8(b));
    } else {
      return vpadalq_s16(acc, PairSums(sa, vld1q_s8(b)));
    }
  }
  static HWY_INLINE int32_t DotTotal32(const int8_t* a, const int8_t* b) {
    const int8x16_t a0 = vld1q_s8(a), a1 = vld1q_s8(a + 16);
    const int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16);
    int32x4_t s = vdupq_n_s32(0);
    if constexpr (kSdot) {
      s = Sdot(Sdot(s, a0, b0), a1, b1);
    } else {
      s = vpadalq_s16(s, vmull_s8(vget_low_s8(a0), vget_low_s8(b0)));
      s = vpadalq_s16(s, vmull_high_s8(a0, b0));
      s = vpadalq_s16(s, vmull_s8(vget_low_s8(a1), vget_low_s8(b1)));
      s = vpadalq_s16(s, vmull_high_s8(a1, b1));
    }
    return vaddvq_s32(s);
  }
};

}  // namespace arm_dot
}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
TRIX_ARM_DOTPROD_END
HWY_AFTER_NAMESPACE();

#elif HWY_TARGET == HWY_SVE || HWY_TARGET == HWY_SVE2 || HWY_TARGET == HWY_SVE_256 || \
    HWY_TARGET == HWY_SVE2_128
#include <arm_sve.h>

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {
namespace arm_dot {

struct SveBytes {
  using U8 = svuint8_t;
  using I32 = svint32_t;
  static HWY_INLINE svbool_t Bytes16() { return svwhilelt_b8_u32(0, 16); }
  static HWY_INLINE svbool_t Lanes4() { return svwhilelt_b32_u32(0, 4); }
  static HWY_INLINE U8 Load(const uint8_t* p) { return svld1_u8(Bytes16(), p); }
  static HWY_INLINE U8 And(U8 v, uint8_t mask) { return svand_n_u8_x(Bytes16(), v, mask); }
  static HWY_INLINE U8 ShiftRight(U8 v, int bits) { return svlsr_n_u8_x(Bytes16(), v, static_cast<uint8_t>(bits)); }
  static HWY_INLINE U8 ShiftLeft(U8 v, int bits) { return svlsl_n_u8_x(Bytes16(), v, static_cast<uint8_t>(bits)); }
  static HWY_INLINE U8 Or(U8 a, U8 b) { return svorr_u8_x(Bytes16(), a, b); }
  static HWY_INLINE I32 Zero() { return svdup_n_s32(0); }
  static HWY_INLINE I32 MulAdd(I32 acc, I32 v, int32_t s) { return svmla_n_s32_x(Lanes4(), acc, v, s); }
  static HWY_INLINE void Store(I32 v, int32_t* p) { svst1_s32(Lanes4(), p, v); }
  // Inactive bytes of a are 0 (Load), so those of b do not count.
  static HWY_INLINE I32 Dot4(I32 acc, U8 a, const int8_t* b) {
    return svdot_s32(acc, svreinterpret_s8_u8(a), svld1_s8(Bytes16(), b));
  }
  static HWY_INLINE int32_t DotTotal32(const int8_t* a, const int8_t* b) {
    svint32_t s = svdup_n_s32(0);
    for (uint32_t j = 0; j < 32; j += static_cast<uint32_t>(svcntb())) {
      const svbool_t p = svwhilelt_b8_u32(j, 32);
      s = svdot_s32(s, svld1_s8(p, a + j), svld1_s8(p, b + j));
    }
    return static_cast<int32_t>(svaddv_s32(svptrue_b32(), s));
  }
};

}  // namespace arm_dot
}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#endif  // NEON or SVE on A64
#endif  // TRIX_CPU_ARM_DOT_INL_H_
