// Q5_0: ggml's 5-bit blocks. 32 elements per block: f16 d,
// uint8 qh[4] (fifth bits), uint8 qs[16] (low nibbles), 22 bytes.
// Value = (q - 16) * d.
// Codec: trix/formats/nibble32.h (layout, the quantizer's rounding as
// ggml's quantize_row_q5_0_ref, the dot's float contract with Q8_0).
#pragma once

#include <cstddef>

#include "trix/formats/blocks.h"
#include "trix/formats/nibble32.h"

TRIX_NIBBLE32_CODEC(q5_0, BlockQ5_0, 5, false)
