// Test problems for the packed4 ternary kernels: random TQ2_0 / TQ1_0 / I2_S
// weights, n tokens of activations, the packed weights and prepared
// activations, and the scalar references' results (bits to reproduce).
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "trix/cpu/ternary_packed.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"
#include "trix/kernels/gemv_tq1_0_q8_k_ref.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

namespace trix::test {

enum class PackedFormat { kTQ2_0, kTQ1_0, kI2_S };

inline const char* packed_format_name(PackedFormat f) {
  switch (f) {
    case PackedFormat::kTQ2_0: return "TQ2_0";
    case PackedFormat::kTQ1_0: return "TQ1_0";
    case PackedFormat::kI2_S: return "I2_S";
  }
  return "?";
}

struct PackedProblem {
  PackedFormat format;
  size_t rows = 0, cols = 0, n_tok = 0;
  std::vector<uint8_t> raw;     // the weights as stored in the file
  size_t raw_row_bytes = 0;
  cpu::PackedTernary packed;
  HugePageBuffer acts;     // n_tok prepared tokens
  size_t act_stride = 0;
  std::vector<float> want;      // n_tok x rows, the reference's bits
  std::string label;

  cpu::PackedMatmulArgs args(float* y) const {
    cpu::PackedMatmulArgs a;
    a.w = packed.view();
    a.acts = acts.data();
    a.act_stride = act_stride;
    a.n_tok = n_tok;
    a.y = y;
    a.y_stride = rows;
    return a;
  }
};

// Weights: ternary values * a scale, with ~1/3 zeros; TQ2_0 codes include
// the all-0 / all-2 extremes in some rows. Activations: normal floats with
// a few large values so the int8 codes reach +-127.
inline PackedProblem make_packed_problem(PackedFormat f, size_t rows, size_t cols, size_t n_tok,
                                         uint64_t seed) {
  PackedProblem p;
  p.format = f;
  p.rows = rows;
  p.cols = cols;
  p.n_tok = n_tok;
  p.label = std::string(packed_format_name(f)) + " rows=" + std::to_string(rows) +
            " cols=" + std::to_string(cols) + " n=" + std::to_string(n_tok);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> tri(-1, 1);
  std::uniform_real_distribution<float> mag(0.01f, 3.0f);
  std::vector<float> wf(rows * cols);
  for (size_t r = 0; r < rows; ++r) {
    const float s = mag(rng);
    for (size_t c = 0; c < cols; ++c) {
      int v = tri(rng);
      if (r % 7 == 3) v = 1;   // all +1 row
      if (r % 7 == 5) v = -1;  // all -1 row
      wf[r * cols + c] = static_cast<float>(v) * s * (c % 5 == 0 ? 0.8f : 1.0f);
    }
  }
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> xf(n_tok * cols);
  for (size_t i = 0; i < xf.size(); ++i) xf[i] = nd(rng) * (i % 97 == 0 ? 40.0f : 1.0f);

  const size_t nb = (cols + 255) / 256;
  p.act_stride = cpu::prepared_act_bytes(nb);
  p.acts = HugePageBuffer(p.act_stride * n_tok);
  p.want.resize(n_tok * rows);
  if (f == PackedFormat::kI2_S) {
    p.raw.resize(i2_s_nbytes(rows, cols));
    quantize_i2_s(wf.data(), rows, cols, p.raw.data());
    p.raw_row_bytes = cols / 4;
    const float scale = i2_s_scale(p.raw.data(), rows, cols);
    p.packed = cpu::pack_i2_s(p.raw.data(), rows, cols, scale);
    std::vector<int8_t> q(cols);
    for (size_t t = 0; t < n_tok; ++t) {
      const I8Activation a = quantize_row_i8_s(xf.data() + t * cols, q.data(), cols);
      cpu::prepare_act_i8(q.data(), cols, a.scale, p.acts.data() + t * p.act_stride);
      for (size_t r = 0; r < rows; ++r) {
        p.want[t * rows + r] = vec_dot_i2_s_i8(p.raw.data() + r * p.raw_row_bytes, scale, q.data(), a.scale, cols);
      }
    }
    return p;
  }
  std::vector<BlockQ8_K> xq(nb * n_tok);
  for (size_t t = 0; t < n_tok; ++t) {
    quantize_row_q8_k(xf.data() + t * cols, xq.data() + t * nb, cols);
    cpu::prepare_act_q8_k(xq.data() + t * nb, nb, p.acts.data() + t * p.act_stride);
  }
  if (f == PackedFormat::kTQ2_0) {
    p.raw_row_bytes = nb * sizeof(BlockTQ2_0);
    p.raw.resize(rows * p.raw_row_bytes);
    for (size_t r = 0; r < rows; ++r) {
      auto* row = reinterpret_cast<BlockTQ2_0*>(p.raw.data() + r * p.raw_row_bytes);
      quantize_row_tq2_0(wf.data() + r * cols, row, cols);
      if (r % 11 == 7) row[0].d = fp32_to_fp16(65504.0f);  // max f16 scale
    }
    p.packed = cpu::pack_tq2_0(p.raw.data(), rows, cols, p.raw_row_bytes);
  } else {
    p.raw_row_bytes = nb * sizeof(BlockTQ1_0);
    p.raw.resize(rows * p.raw_row_bytes);
    for (size_t r = 0; r < rows; ++r) {
      quantize_row_tq1_0(wf.data() + r * cols, reinterpret_cast<BlockTQ1_0*>(p.raw.data() + r * p.raw_row_bytes), cols);
    }
    p.packed = cpu::pack_tq1_0(p.raw.data(), rows, cols, p.raw_row_bytes);
  }
  for (size_t t = 0; t < n_tok; ++t) {
    for (size_t r = 0; r < rows; ++r) {
      const void* row = p.raw.data() + r * p.raw_row_bytes;
      p.want[t * rows + r] =
          f == PackedFormat::kTQ2_0
              ? kernels::gemv_tq2_0_q8_k_row_ref(static_cast<const BlockTQ2_0*>(row), xq.data() + t * nb, cols)
              : kernels::gemv_tq1_0_q8_k_row_ref(static_cast<const BlockTQ1_0*>(row), xq.data() + t * nb, cols);
    }
  }
  return p;
}

}  // namespace trix::test
