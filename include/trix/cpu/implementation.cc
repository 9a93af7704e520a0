// The one translation unit that compiles TriX's CPU kernels for every
// Highway target (see trix/cpu/implementation.h). The trix::trix CMake
// target builds it into a static library; without CMake, compile this file
// once with the rest of the program.
#include "trix/cpu/implementation.h"
