// Q4_0: ggml's 4-bit blocks. 32 elements per block: f16 d,
// uint8 qs[16] (nibbles), 18 bytes. Value = (q - 8) * d.
// Codec: trix/formats/nibble32.h (layout, the quantizer's rounding as
// ggml's quantize_row_q4_0_ref, the dot's float contract with Q8_0).
#pragma once

#include <cstddef>

#include "trix/formats/blocks.h"
#include "trix/formats/nibble32.h"

TRIX_NIBBLE32_CODEC(q4_0, BlockQ4_0, 4, false)
