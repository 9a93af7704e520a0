// Static dispatch of the decoder's small ops (trix/cpu/ops.h): each op
// compiled in the including translation unit for the one target it is built
// for (-march for a known machine), with no runtime CPU detection, as
// trix::cpu::ops::static_target::rmsnorm, ... Opt-in, like the generated
// trix/cpu/static_dispatch.h for the GEMV kernels: it compiles the op bodies
// in every translation unit that includes it; runs no per-target pass.
#pragma once

#include <cstddef>
#include <cstdint>

#include "hwy/highway.h"
#include "trix/cpu/ops-inl.h"
#include "trix/cpu/ops.h"
#include "trix/formats/blocks.h"
#include "trix/formats/i2_s.h"

namespace trix::cpu::ops::static_target {

#define TRIX_CPU_OP_STATIC(Ret, name, body, params, args) \
  inline Ret name params { return HWY_STATIC_DISPATCH(body) args; }
TRIX_CPU_OPS(TRIX_CPU_OP_STATIC)
#undef TRIX_CPU_OP_STATIC

}  // namespace trix::cpu::ops::static_target
