// Q5_1: ggml's 5-bit blocks with a minimum. 32 elements per
// block: f16 d, f16 m, uint8 qh[4] (fifth bits), uint8 qs[16] (low nibbles),
// 24 bytes. Value = q * d + m.
// Codec: trix/formats/nibble32.h (layout, the quantizer's rounding as
// ggml's quantize_row_q5_1_ref, the dot's float contract with Q8_0).
#pragma once

#include <cstddef>

#include "trix/formats/blocks.h"
#include "trix/formats/nibble32.h"

TRIX_NIBBLE32_CODEC(q5_1, BlockQ5_1, 5, true)
