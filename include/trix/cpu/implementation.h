// The CPU kernels, compiled for every Highway target once per program: the
// definitions of trix/cpu/ops.h's ops and of the generated
// trix/cpu/dispatch.h's GEMV / GEMM kernels, each calling the best target
// the running CPU supports (HWY_DYNAMIC_DISPATCH, chosen on first call).
//
// stb-style: include this header in exactly one .cc of a program (its
// functions have external linkage). With CMake, trix::trix does it for you:
// it links a static library compiled from trix/cpu/implementation.cc (in
// the build tree, and created by trixConfig.cmake in a project that uses the
// installed package). Every other file includes only the declarations.
//
// This is the translation unit's one Highway per-target pass
// (hwy/foreach_target.h); it covers the small ops (trix/cpu/ops-inl.h) and,
// through that file, the generated kernels (trix/cpu/kernels-inl.h). The
// entry points come from the lists next to their declarations
// (TRIX_CPU_OPS in ops.h, TRIX_CPU_KERNELS in the generated dispatch.h).
#pragma once

#if defined(HIGHWAY_HWY_FOREACH_TARGET_H_)
#error "trix/cpu/implementation.h runs the translation unit's Highway per-target pass: compile it in a .cc that runs no other (e.g. trix/cpu/implementation.cc)"
#endif

#include <cstddef>
#include <cstdint>

#include "trix/cpu/dispatch.h"
#include "trix/cpu/ops.h"
#include "trix/formats/blocks.h"
#include "trix/formats/i2_s.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "trix/cpu/ops-inl.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "trix/cpu/ops-inl.h"

namespace trix::cpu::ops {

#define TRIX_CPU_OP_DYNAMIC(Ret, name, body, params, args) \
  HWY_EXPORT(body);                                         \
  Ret name params { return HWY_DYNAMIC_DISPATCH(body) args; }
TRIX_CPU_OPS(TRIX_CPU_OP_DYNAMIC)
#undef TRIX_CPU_OP_DYNAMIC

}  // namespace trix::cpu::ops

namespace trix::cpu {

#define TRIX_CPU_KERNEL_DYNAMIC(name, params) \
  HWY_EXPORT(name);                           \
  void name params { HWY_DYNAMIC_DISPATCH(name)(args, begin, end); }
TRIX_CPU_KERNELS(TRIX_CPU_KERNEL_DYNAMIC)
#undef TRIX_CPU_KERNEL_DYNAMIC

}  // namespace trix::cpu
