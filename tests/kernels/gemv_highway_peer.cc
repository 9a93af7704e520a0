// The Highway TQ2_0 x Q8_K GEMV (dynamic dispatch: the best target of this
// CPU) as a peer for the GPU-path tests; in its own TU, compiled once, so
// those tests need not expand every Highway target themselves.
#include "trix/cpu/dispatch.h"
#include "trix/kernels/gemv_args.h"

namespace trix::test {

void highway_gemv_tq2_0_q8_k(const GemvArgs& args) { cpu::gemv_tq2_0_q8_k(args); }

}  // namespace trix::test
