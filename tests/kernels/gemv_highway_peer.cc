// The Highway GEMV kernels (dynamic dispatch: the best target of this CPU)
// as peers for the GPU-path tests, by kernel name; in its own TU, compiled
// once, so those tests need not expand every Highway target themselves.
#include <string>

#include "trix/core/error.h"
#include "trix/cpu/dispatch.h"
#include "trix/kernels/gemv_args.h"

namespace trix::test {

void highway_gemv(const char* kernel, const GemvArgs& args) {
  const std::string name = kernel;
  if (name == "gemv_tq2_0_q8_k") return cpu::gemv_tq2_0_q8_k(args);
  if (name == "gemv_f16_f32") return cpu::gemv_f16_f32(args);
  if (name == "gemv_q6_k_q8_k") return cpu::gemv_q6_k_q8_k(args);
  if (name == "gemv_q4_k_q8_k") return cpu::gemv_q4_k_q8_k(args);
  if (name == "gemv_q8_0_q8_0") return cpu::gemv_q8_0_q8_0(args);
  throw Error("gemv_highway_peer: no Highway kernel named " + name);
}

}  // namespace trix::test
