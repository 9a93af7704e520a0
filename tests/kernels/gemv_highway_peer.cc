// The CPU peers of the GPU GEMV kernels, by kernel name: the Highway kernel
// of the same spec (dynamic dispatch, the best target of this CPU), or,
// where the CPU runs a different layout (I2_S rows as stored), the format's
// reference dot. In its own TU, compiled once, so the GPU-path tests need
// not expand every Highway target themselves.
#include <cstdint>
#include <string>

#include "trix/core/error.h"
#include "trix/cpu/dispatch.h"
#include "trix/formats/i2_s.h"
#include "trix/kernels/gemv_args.h"

namespace trix::test {

void cpu_gemv_peer(const char* name, const GemvArgs& args) {
  const std::string kernel = name;
  if (kernel == "gemv_tq2_0_q8_k") return cpu::gemv_tq2_0_q8_k(args);
  if (kernel == "gemv_f16_f32") return cpu::gemv_f16_f32(args);
  if (kernel == "gemv_q6_k_q8_k") return cpu::gemv_q6_k_q8_k(args);
  if (kernel == "gemv_q4_k_q8_k") return cpu::gemv_q4_k_q8_k(args);
  if (kernel == "gemv_q8_0_q8_0") return cpu::gemv_q8_0_q8_0(args);
  if (kernel == "gemv_i2_s_i8_s") {
    for (uint64_t r = 0; r < args.rows; ++r) {
      args.y[r] = vec_dot_i2_s_i8_s(static_cast<const uint8_t*>(args.w) + r * args.w_row_bytes,
                                    static_cast<const uint8_t*>(args.x), args.k);
    }
    return;
  }
  throw Error("gemv_highway_peer: no CPU peer for kernel " + kernel);
}

}  // namespace trix::test
