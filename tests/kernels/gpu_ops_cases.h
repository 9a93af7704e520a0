// The device ops (kernel specs whose op is not gemv/gemm: elementwise ops,
// RMSNorm, the activation quantizers, embedding lookups) with the problems
// the GPU-path tests (CUDA grid emulation, Metal shim) run and the checks
// they apply. Each check runs a kernel through `run` (its Args in, results in
// the Args' buffers) and compares with the CPU ops written independently of
// the device bodies: trix/runtime/reference_ops.h (scalar), trix/cpu/ops.h
// (Highway) and the format codecs (trix/formats), under the spec's accuracy
// field (trix::kernels::<name>::kAccuracy). Shapes: BitNet-2B-4T and
// TinyLlama widths (2560, 2048, 6912, 5632) and odd sizes that are not a
// multiple of any block size, kept small enough for the emulator.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/kernel_accuracy.h"
#include "trix/core/fp16.h"
#include "trix/cpu/ops.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/kernels/add_f32.h"
#include "trix/kernels/attention_combine_f32.h"
#include "trix/kernels/attention_decode_f16.h"
#include "trix/kernels/attention_prefill_f16.h"
#include "trix/kernels/embedding_f16.h"
#include "trix/kernels/embedding_f32.h"
#include "trix/kernels/embedding_q6_k.h"
#include "trix/kernels/embedding_q8_0.h"
#include "trix/kernels/quantize_i8_s.h"
#include "trix/kernels/quantize_q8_k.h"
#include "trix/kernels/relu2_gate_f32.h"
#include "trix/kernels/rmsnorm_f32.h"
#include "trix/kernels/rope_adjacent_f32.h"
#include "trix/kernels/rope_neox_f32.h"
#include "trix/kernels/swiglu_f32.h"
#include "trix/runtime/reference_ops.h"
#include "trix/runtime/rope.h"

namespace trix::test::gpu_ops {

template <class Args>
using Run = std::function<void(const Args&)>;

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// got against want element by element under `contract`; stops at 5 failures.
inline void expect_floats(const kernels::Accuracy& contract, const std::vector<float>& want,
                          const std::vector<float>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < want.size() && failures < 5; ++i) {
    const auto r = meets_contract(contract, want[i], got[i]);
    if (!r) ++failures;
    EXPECT_TRUE(r) << what << ", element " << i;
  }
}

// ------------------------------------------------------------ elementwise

// Sizes for the elementwise ops: one element, odd, FFN widths.
inline const std::vector<size_t>& elementwise_sizes() {
  static const std::vector<size_t> sizes = {1, 1003, 6912, 5632};
  return sizes;
}

// A binary op kernel (add, swiglu, relu2_gate: a, b -> out) against the
// scalar and the Highway CPU op (both in place on a copy of a), also with
// out == a as the runtime calls it.
template <class Args>
void check_binary(const Run<Args>& run, const kernels::Accuracy& contract,
                  void (*ref_op)(float*, const float*, int64_t), void (*cpu_op)(float*, const float*, size_t),
                  const char* name) {
  for (size_t n : elementwise_sizes()) {
    const std::vector<float> a = random_floats(n, 11 + static_cast<uint32_t>(n), 3.0f);
    const std::vector<float> b = random_floats(n, 12 + static_cast<uint32_t>(n));
    std::vector<float> want_ref = a, want_cpu = a;
    ref_op(want_ref.data(), b.data(), static_cast<int64_t>(n));
    cpu_op(want_cpu.data(), b.data(), n);
    std::vector<float> out(n, -7.0f);
    run(Args{a.data(), b.data(), out.data(), static_cast<uint32_t>(n)});
    expect_floats(contract, want_ref, out, std::string(name) + " vs reference_ops, n = " + std::to_string(n));
    expect_floats(contract, want_cpu, out, std::string(name) + " vs cpu::ops, n = " + std::to_string(n));
    std::vector<float> in_place = a;
    run(Args{in_place.data(), b.data(), in_place.data(), static_cast<uint32_t>(n)});
    expect_floats(contract, want_ref, in_place, std::string(name) + " in place, n = " + std::to_string(n));
  }
}

inline void check_add(const Run<kernels::add_f32::Args>& run) {
  check_binary(run, kernels::add_f32::kAccuracy, &ref::add_inplace, &cpu::ops::add_inplace, "add_f32");
}
inline void check_swiglu(const Run<kernels::swiglu_f32::Args>& run) {
  check_binary(run, kernels::swiglu_f32::kAccuracy, &ref::swiglu, &cpu::ops::swiglu, "swiglu_f32");
}
inline void check_relu2_gate(const Run<kernels::relu2_gate_f32::Args>& run) {
  check_binary(run, kernels::relu2_gate_f32::kAccuracy, &ref::relu2_gate, &cpu::ops::relu2_gate, "relu2_gate_f32");
}

// RoPE at a few positions and head shapes (BitNet-2B-4T: 20 heads of 128,
// theta 500000; TinyLlama: 32 x 64; a small odd head count).
template <class Args>
void check_rope(const Run<Args>& run, const kernels::Accuracy& contract, RopeStyle style,
                void (*cpu_op)(float*, size_t, size_t, const float*, const float*), const char* name) {
  struct Shape {
    uint32_t n_heads, head_dim;
    int64_t pos;
    float theta;
  };
  for (const Shape& s : {Shape{20, 128, 4095, 500000.0f}, Shape{32, 64, 17, 10000.0f}, Shape{3, 8, 1, 10000.0f}}) {
    std::vector<float> c(s.head_dim / 2), sn(s.head_dim / 2);
    rope_table(s.pos, s.head_dim, s.theta, c.data(), sn.data());
    const std::vector<float> x = random_floats(size_t{s.n_heads} * s.head_dim, s.head_dim + s.n_heads);
    std::vector<float> want_ref = x, want_cpu = x, got = x;
    ref::rope_apply(want_ref.data(), s.n_heads, s.head_dim, c.data(), sn.data(), style);
    cpu_op(want_cpu.data(), s.n_heads, s.head_dim, c.data(), sn.data());
    run(Args{got.data(), c.data(), sn.data(), s.n_heads, s.head_dim});
    const std::string what = std::string(name) + " " + std::to_string(s.n_heads) + "x" + std::to_string(s.head_dim);
    expect_floats(contract, want_ref, got, what + " vs reference_ops");
    expect_floats(contract, want_cpu, got, what + " vs cpu::ops");
  }
}

inline void check_rope_adjacent(const Run<kernels::rope_adjacent_f32::Args>& run) {
  check_rope(run, kernels::rope_adjacent_f32::kAccuracy, RopeStyle::Adjacent, &cpu::ops::rope_adjacent,
             "rope_adjacent_f32");
}
inline void check_rope_neox(const Run<kernels::rope_neox_f32::Args>& run) {
  check_rope(run, kernels::rope_neox_f32::kAccuracy, RopeStyle::NeoxHalves, &cpu::ops::rope_neox, "rope_neox_f32");
}

// ------------------------------------------------------------ row ops

// RMSNorm over rows of BitNet/TinyLlama widths and odd ones (fewer elements
// than lanes too), against the scalar and Highway CPU ops; also in place.
inline void check_rmsnorm(const Run<kernels::rmsnorm_f32::Args>& run) {
  const auto contract = kernels::rmsnorm_f32::kAccuracy;
  struct Shape {
    uint32_t n, rows;
  };
  for (const Shape& s : {Shape{2560, 3}, Shape{2048, 1}, Shape{6912, 1}, Shape{5, 2}, Shape{100, 3}}) {
    const size_t total = size_t{s.n} * s.rows;
    const std::vector<float> x = random_floats(total, s.n + 1, 2.0f);
    const std::vector<float> w = random_floats(s.n, s.n + 2);
    const float eps = 1e-5f;
    std::vector<float> want_ref(total), want_cpu(total), got(total, -7.0f);
    for (uint32_t r = 0; r < s.rows; ++r) {
      ref::rmsnorm(x.data() + size_t{r} * s.n, w.data(), want_ref.data() + size_t{r} * s.n, s.n, eps);
      cpu::ops::rmsnorm(x.data() + size_t{r} * s.n, w.data(), want_cpu.data() + size_t{r} * s.n, s.n, eps);
    }
    run({x.data(), w.data(), got.data(), s.n, eps, s.rows});
    const std::string what = "rmsnorm n = " + std::to_string(s.n) + ", rows = " + std::to_string(s.rows);
    expect_floats(contract, want_ref, got, what + " vs reference_ops");
    expect_floats(contract, want_cpu, got, what + " vs cpu::ops");
    std::vector<float> in_place = x;
    run({in_place.data(), w.data(), in_place.data(), s.n, eps, s.rows});
    expect_floats(contract, want_ref, in_place, what + " in place");
  }
}

// Q8_K blocks: random rows (BitNet's 2560 and 6912), a zero block, a block
// whose largest |x| occurs as -m before +m (the first wins: the scale's
// sign), and one with max 127 and x = k + 0.5 (iscale -1: ties to even).
inline std::vector<float> q8_k_cases() {
  std::vector<float> x = random_floats(2560 + 6912, 21, 1.5f);
  std::vector<float> zero(256, 0.0f), tie = random_floats(256, 22), half(256);
  tie[37] = -9.0f;
  tie[200] = 9.0f;
  for (size_t i = 0; i < 256; ++i) half[i] = static_cast<float>(static_cast<int>(i % 200) - 100) + 0.5f;
  half[3] = 127.0f;
  for (const auto* v : {&zero, &tie, &half}) x.insert(x.end(), v->begin(), v->end());
  return x;
}

inline void check_quantize_q8_k(const Run<kernels::quantize_q8_k::Args>& run) {
  static_assert(kernels::quantize_q8_k::kFormatBlockBytes == sizeof(BlockQ8_K));
  ASSERT_TRUE(kernels::quantize_q8_k::kAccuracy.bit_exact) << "the codec is the contract: bytes compare";
  const std::vector<float> x = q8_k_cases();
  const size_t blocks = x.size() / 256;
  std::vector<BlockQ8_K> want_codec(blocks), want_cpu(blocks), got(blocks);
  std::memset(static_cast<void*>(got.data()), 0x5a, blocks * sizeof(BlockQ8_K));
  quantize_row_q8_k(x.data(), want_codec.data(), x.size());
  cpu::ops::quantize_row_q8_k(x.data(), want_cpu.data(), x.size());
  run({x.data(), reinterpret_cast<uint8_t*>(got.data()), static_cast<uint32_t>(blocks)});
  for (size_t b = 0; b < blocks; ++b) {
    EXPECT_EQ(std::memcmp(&want_codec[b], &got[b], sizeof(BlockQ8_K)), 0)
        << "Q8_K block " << b << ": d want " << want_codec[b].d << " got " << got[b].d << ", qs[0] want "
        << int{want_codec[b].qs[0]} << " got " << int{got[b].qs[0]} << ", bsums[0] want " << want_codec[b].bsums[0]
        << " got " << got[b].bsums[0];
    EXPECT_EQ(std::memcmp(&want_cpu[b], &got[b], sizeof(BlockQ8_K)), 0) << "Q8_K block " << b << " vs cpu::ops";
  }
}

// Per-token int8: token rows of BitNet widths and odd ones, a zero row
// (scale from the 1e-5 floor), a row of tiny values (below the floor) and
// one with max 127 and x = k + 0.5 (s = 1: ties to even).
inline void check_quantize_i8_s(const Run<kernels::quantize_i8_s::Args>& run) {
  ASSERT_TRUE(kernels::quantize_i8_s::kAccuracy.bit_exact) << "the codec is the contract: codes compare";
  struct Case {
    uint32_t n, rows;
    std::vector<float> x;
  };
  std::vector<Case> cases = {{2560, 3, random_floats(3 * 2560, 31, 2.0f)},
                             {6912, 1, random_floats(6912, 32, 0.5f)},
                             {33, 2, random_floats(66, 33)},
                             {256, 3, std::vector<float>(768, 0.0f)}};
  std::vector<float>& special = cases.back().x;
  for (size_t i = 256; i < 512; ++i) special[i] = 3e-6f * static_cast<float>(static_cast<int>(i % 7) - 3);
  for (size_t i = 512; i < 768; ++i) special[i] = static_cast<float>(static_cast<int>(i % 200) - 100) + 0.5f;
  special[600] = -127.0f;
  for (const Case& c : cases) {
    std::vector<int8_t> got_q(c.x.size(), 99);
    std::vector<float> got_scale(c.rows, -1.0f);
    std::vector<int32_t> got_sum(c.rows, -1);
    run({c.x.data(), got_q.data(), got_scale.data(), got_sum.data(), c.n, c.rows});
    for (uint32_t r = 0; r < c.rows; ++r) {
      std::vector<int8_t> want_q(c.n);
      const I8Activation want = quantize_row_i8_s(c.x.data() + size_t{r} * c.n, want_q.data(), c.n);
      const std::string what = "i8_s n = " + std::to_string(c.n) + ", row " + std::to_string(r);
      EXPECT_TRUE(meets_contract(kernels::quantize_i8_s::kAccuracy, want.scale, got_scale[r])) << what << " scale";
      EXPECT_EQ(want.sum, got_sum[r]) << what << " code sum";
      EXPECT_EQ(std::memcmp(want_q.data(), got_q.data() + size_t{r} * c.n, c.n), 0) << what << " codes";
    }
  }
}

// ------------------------------------------------------------ embeddings

// Rows 0, 1 and the last of a table of `vocab` rows of n elements, against
// the codec's dequantization of that row (for F32, the row itself).
template <class Args>
void check_embedding(const Run<Args>& run, const std::vector<uint8_t>& table, size_t row_bytes, uint32_t vocab,
                     uint32_t n, const std::function<void(const uint8_t*, float*)>& dequantize, const char* name) {
  for (uint32_t token : {0u, 1u, vocab - 1}) {
    std::vector<float> want(n), got(n, -7.0f);
    dequantize(table.data() + size_t{token} * row_bytes, want.data());
    run(Args{table.data(), got.data(), token, n});
    expect_floats(kernels::Accuracy::bit_exact_contract(), want, got,
                  std::string(name) + " token " + std::to_string(token));
  }
}

// A vocab x n table of `Block`s quantized by `quantize` from random rows.
template <class Block>
std::vector<uint8_t> quantized_table(uint32_t vocab, uint32_t n, void (*quantize)(const float*, Block*, size_t)) {
  const std::vector<float> x = random_floats(size_t{vocab} * n, 41 + n);
  std::vector<uint8_t> table(size_t{vocab} * n / Block::kElements * sizeof(Block));
  quantize(x.data(), reinterpret_cast<Block*>(table.data()), x.size());
  return table;
}

inline void check_embedding_f32(const Run<kernels::embedding_f32::Args>& run) {
  constexpr uint32_t kVocab = 5, kN = 2560;
  const std::vector<float> x = random_floats(size_t{kVocab} * kN, 43);
  std::vector<uint8_t> table(x.size() * 4);
  std::memcpy(table.data(), x.data(), table.size());
  check_embedding(run, table, kN * 4, kVocab, kN, [](const uint8_t* row, float* out) { std::memcpy(out, row, kN * 4); },
                  "embedding_f32");
}

inline void check_embedding_f16(const Run<kernels::embedding_f16::Args>& run) {
  constexpr uint32_t kVocab = 5, kN = 2048;
  const std::vector<float> x = random_floats(size_t{kVocab} * kN, 44);
  std::vector<uint8_t> table(x.size() * 2);
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t h = fp32_to_fp16(x[i]);
    std::memcpy(table.data() + 2 * i, &h, 2);
  }
  check_embedding(run, table, kN * 2, kVocab, kN,
                  [](const uint8_t* row, float* out) {
                    for (uint32_t i = 0; i < kN; ++i) {
                      uint16_t h;
                      std::memcpy(&h, row + 2 * i, 2);
                      out[i] = fp16_to_fp32(h);
                    }
                  },
                  "embedding_f16");
}

inline void check_embedding_q8_0(const Run<kernels::embedding_q8_0::Args>& run) {
  constexpr uint32_t kVocab = 4, kN = 2560 + 32;
  check_embedding(run, quantized_table<BlockQ8_0>(kVocab, kN, &quantize_row_q8_0), kN / 32 * sizeof(BlockQ8_0), kVocab,
                  kN,
                  [](const uint8_t* row, float* out) {
                    dequantize_row_q8_0(reinterpret_cast<const BlockQ8_0*>(row), out, kN);
                  },
                  "embedding_q8_0");
}

inline void check_embedding_q6_k(const Run<kernels::embedding_q6_k::Args>& run) {
  constexpr uint32_t kVocab = 4, kN = 2560;
  check_embedding(run, quantized_table<BlockQ6_K>(kVocab, kN, &quantize_row_q6_k), kN / 256 * sizeof(BlockQ6_K), kVocab,
                  kN,
                  [](const uint8_t* row, float* out) {
                    dequantize_row_q6_k(reinterpret_cast<const BlockQ6_K*>(row), out, kN);
                  },
                  "embedding_q6_k");
}

// ------------------------------------------------------------ attention

// An f16 KV cache of n_pos positions x n_kv_heads x head_dim (keys and
// values), random, and the CPU's attention of one query head over its first
// n positions: reference_ops.h's attention_head, the Highway one, and an fp64
// softmax of the same widened values. Outputs are held to `contract` with
// magnitude max |v| (the scale of any softmax average of the values).
struct AttnCache {
  uint32_t n_pos, n_heads, n_kv_heads, head_dim;
  std::vector<uint16_t> k, v;
  float max_abs_v = 0;

  AttnCache(uint32_t positions, uint32_t heads, uint32_t kv_heads, uint32_t dim)
      : n_pos(positions), n_heads(heads), n_kv_heads(kv_heads), head_dim(dim) {
    const std::vector<float> kf = random_floats(size_t{positions} * kv_heads * dim, 51 + positions, 1.0f);
    const std::vector<float> vf = random_floats(kf.size(), 52 + positions, 2.0f);
    for (float x : kf) k.push_back(fp32_to_fp16(x));
    for (float x : vf) v.push_back(fp32_to_fp16(x));
    for (uint16_t h : v) max_abs_v = std::max(max_abs_v, std::fabs(fp16_to_fp32(h)));
  }
  uint32_t stride() const { return n_kv_heads * head_dim; }

  // Checks got (head_dim floats) against the CPU for query q of `head` over
  // positions [0, n).
  void expect_head(const kernels::Accuracy& contract, const float* q, uint32_t head, uint32_t n, const float* got,
                   const std::string& what) const {
    const size_t kv = size_t{head / (n_heads / n_kv_heads)} * head_dim;
    std::vector<float> scores(n), want_ref(head_dim), want_cpu(head_dim);
    ref::attention_head(q, k.data() + kv, v.data() + kv, n, stride(), head_dim, scores.data(), want_ref.data());
    cpu::ops::attention_head(q, k.data() + kv, v.data() + kv, n, stride(), head_dim, scores.data(), want_cpu.data());
    std::vector<double> s(n), want64(head_dim, 0.0);
    double max_s = -1e300, sum = 0;
    for (uint32_t p = 0; p < n; ++p) {
      double dot = 0;
      for (uint32_t d = 0; d < head_dim; ++d) dot += double{q[d]} * fp16_to_fp32(k[kv + size_t{p} * stride() + d]);
      s[p] = dot / std::sqrt(static_cast<double>(head_dim));
      max_s = std::max(max_s, s[p]);
    }
    for (uint32_t p = 0; p < n; ++p) sum += std::exp(s[p] - max_s);
    for (uint32_t p = 0; p < n; ++p) {
      const double w = std::exp(s[p] - max_s) / sum;
      for (uint32_t d = 0; d < head_dim; ++d) want64[d] += w * fp16_to_fp32(v[kv + size_t{p} * stride() + d]);
    }
    int failures = 0;
    for (uint32_t d = 0; d < head_dim && failures < 5; ++d) {
      const auto r1 = meets_contract(contract, want_ref[d], got[d], max_abs_v);
      const auto r2 = meets_contract(contract, want_cpu[d], got[d], max_abs_v);
      const auto r3 = meets_contract(contract, static_cast<float>(want64[d]), got[d], max_abs_v);
      failures += !r1 + !r2 + !r3;
      EXPECT_TRUE(r1) << what << ", dim " << d << " vs reference_ops";
      EXPECT_TRUE(r2) << what << ", dim " << d << " vs cpu::ops";
      EXPECT_TRUE(r3) << what << ", dim " << d << " vs fp64";
    }
  }
};

// Flash-decoding (decode step, then combine) at sequence lengths 1, 17, 300
// (two uneven splits) with GQA (4 or 2 query heads on 2 or 1), head_dim 128
// as BitNet-2B-4T and TinyLlama's 64, and, unless `short_only`, 4096 (one
// head: the emulator pays ~0.5 ms per position of a warp in the ASan build).
inline void check_attention_decode(const Run<kernels::attention_decode_f16::Args>& decode,
                                   const Run<kernels::attention_combine_f32::Args>& combine, bool short_only = false) {
  const auto contract = kernels::attention_decode_f16::kAccuracy;
  ASSERT_EQ(contract.rel, kernels::attention_combine_f32::kAccuracy.rel) << "one contract for the two steps";
  struct Case {
    uint32_t n_pos, head_dim, split_len, n_heads, n_kv_heads;
  };
  for (const Case& c : {Case{1, 128, 256, 4, 2}, Case{17, 64, 256, 4, 2}, Case{300, 128, 256, 2, 1},
                        Case{4096, 64, 1024, 1, 1}}) {
    if (short_only && c.n_pos > 300) continue;
    const AttnCache cache(c.n_pos, c.n_heads, c.n_kv_heads, c.head_dim);
    const std::vector<float> q = random_floats(size_t{c.n_heads} * c.head_dim, 53 + c.n_pos);
    const uint32_t parts = c.n_heads * ((c.n_pos + c.split_len - 1) / c.split_len);
    std::vector<float> m(parts), l(parts), acc(size_t{parts} * c.head_dim), out(q.size(), -7.0f);
    decode({q.data(), cache.k.data(), cache.v.data(), m.data(), l.data(), acc.data(), c.n_pos, c.n_heads,
            c.n_kv_heads, c.head_dim, cache.stride(), c.split_len});
    combine({m.data(), l.data(), acc.data(), out.data(), c.n_pos, c.n_heads, c.head_dim, c.split_len});
    for (uint32_t h = 0; h < c.n_heads; ++h) {
      cache.expect_head(contract, q.data() + size_t{h} * c.head_dim, h, c.n_pos, out.data() + size_t{h} * c.head_dim,
                        "decode n_pos = " + std::to_string(c.n_pos) + ", head " + std::to_string(h));
    }
  }
}

// Causal prefill: n_tok tokens at positions pos0 .. pos0 + n_tok - 1 of the
// cache, each over positions 0 .. its own: one token, 17 tokens after 5
// cached (GQA), and 2 tokens at positions 300 and 301 (the emulator pays
// ~0.5 ms per position of a warp in the ASan build; decode covers 4096).
inline void check_attention_prefill(const Run<kernels::attention_prefill_f16::Args>& run) {
  const auto contract = kernels::attention_prefill_f16::kAccuracy;
  struct Case {
    uint32_t pos0, n_tok, n_heads, n_kv_heads, head_dim;
  };
  for (const Case& c : {Case{0, 1, 4, 2, 64}, Case{5, 17, 4, 2, 128}, Case{300, 2, 1, 1, 64}}) {
    const AttnCache cache(c.pos0 + c.n_tok, c.n_heads, c.n_kv_heads, c.head_dim);
    const size_t row = size_t{c.n_heads} * c.head_dim;
    const std::vector<float> q = random_floats(c.n_tok * row, 54 + c.pos0);
    std::vector<float> out(q.size(), -7.0f);
    run({q.data(), cache.k.data(), cache.v.data(), out.data(), c.pos0, c.n_tok, c.n_heads, c.n_kv_heads, c.head_dim,
         cache.stride()});
    for (uint32_t t = 0; t < c.n_tok; ++t) {
      for (uint32_t h = 0; h < c.n_heads; ++h) {
        const size_t at = t * row + size_t{h} * c.head_dim;
        cache.expect_head(contract, q.data() + at, h, c.pos0 + t + 1, out.data() + at,
                          "prefill pos " + std::to_string(c.pos0 + t) + ", head " + std::to_string(h));
      }
    }
  }
}

}  // namespace trix::test::gpu_ops
