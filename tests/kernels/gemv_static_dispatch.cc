// Static dispatch lives in its own translation unit: a program uses either
// front end per TU.
#include "trix/cpu/static_dispatch.h"

void run_static_dispatch(const trix::GemvArgs& args) { trix::cpu::static_target::gemv_tq2_0_q8_k(args); }
