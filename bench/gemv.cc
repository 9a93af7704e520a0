// GEMV (n = 1) and GEMM (n = 512) cases on BitNet-b1.58-2B-4T shapes: the
// dispatched kernels against the naive baseline (dequantize a weight row to
// f32, then an f32 dot with the dequantized activations) and against
// llama.cpp's published figures (DESIGN.md section 4). Formats: the ternary
// ones (TQ2_0 row-major and packed4, TQ1_0 and I2_S packed4; GEMV and GEMM)
// and the non-ternary tensors' GEMVs (Q8_0 x Q8_0, F16 x F32, Q6_K x Q8_K).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench.h"
// GCC 12 -O3 reports the undefined-on-purpose pass-through operand of some
// AVX-512 intrinsics (inside its own headers) as maybe-uninitialized once a
// kernel is called from here (gemv_dense-inl.h's Q8_0 path: gather, cvtph,
// inserti64x4); a false positive that -Werror turns into a build break.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "trix/cpu/dispatch.h"
#pragma GCC diagnostic pop
#include "trix/cpu/ternary_packed.h"
#include "trix/formats/blocks.h"
#include "trix/formats/f16.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/q6_k.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq1_0.h"
#include "trix/formats/tq2_0.h"
#include "trix/formats/traits.h"
#include "trix/kernels/gemv_args.h"

namespace trix::bench {
namespace {

// Activations of n tokens: what the kernel reads, and the same values as
// floats for the naive baseline.
struct Activations {
  HugeBuffer kernel;
  std::vector<float> dequant;
};

// One (weight format, layout, activation format) the bench knows how to run.
// The source matrix is in the file format (row-major rows); `pack` turns it
// into what the kernel reads (a copy for row-major kernels).
struct GemvFormat {
  const char* weight;
  const char* layout;
  const char* act;
  std::function<size_t(size_t k)> row_bytes;  // source format
  std::function<void(uint8_t* rows, size_t m, size_t k, std::mt19937_64& rng)> fill;
  std::function<void(const uint8_t* row, size_t k, float* out)> dequant_row;
  std::function<HugeBuffer(const uint8_t* src, size_t m, size_t k)> pack;
  std::function<Activations(const float* x, size_t n, size_t k)> prepare_act;
  // y[t * m + r] for tokens t < n and rows r in [rb, re) (multiples of 16
  // except at m).
  std::function<void(const uint8_t* w, const Activations& a, size_t m, size_t k, size_t n, float* y,
                     size_t rb, size_t re)>
      rows;
  std::vector<size_t> ns;  // token counts to run
  const char* impl_n1;
  const char* impl_gemm;
};

// A byte whose four 2-bit fields are all valid ternary codes (0, 1, 2).
uint8_t ternary_byte(std::mt19937_64& rng) {
  uint8_t b = 0;
  for (int f = 0; f < 4; ++f) b = static_cast<uint8_t>(b | ((rng() % 3) << (2 * f)));
  return b;
}

HugeBuffer copy_of(const uint8_t* src, size_t bytes) {
  HugeBuffer b(bytes);
  std::memcpy(b.data(), src, bytes);
  return b;
}

Activations q8_k_activations(const float* x, size_t n, size_t k, bool packed) {
  const size_t nb = k / BlockQ8_K::kElements;
  std::vector<BlockQ8_K> q(n * nb);
  for (size_t t = 0; t < n; ++t) quantize_row_q8_k(x + t * k, q.data() + t * nb, k);
  Activations a;
  a.dequant.resize(n * k);
  dequantize_row_q8_k(q.data(), a.dequant.data(), n * k);
  if (packed) {
    const size_t stride = cpu::prepared_act_bytes(nb);
    a.kernel = HugeBuffer(n * stride);
    for (size_t t = 0; t < n; ++t) cpu::prepare_act_q8_k(q.data() + t * nb, nb, a.kernel.data() + t * stride);
  } else {
    a.kernel = copy_of(reinterpret_cast<const uint8_t*>(q.data()), q.size() * sizeof(BlockQ8_K));
  }
  return a;
}

// Per-token int8 activations (bitnet.cpp's quantize_row_i8_s), prepared for
// the packed I2_S kernels.
Activations i8_s_activations(const float* x, size_t n, size_t k) {
  const size_t stride = cpu::prepared_act_bytes(k / cpu::kPackedBlock);
  Activations a;
  a.kernel = HugeBuffer(n * stride);
  a.dequant.resize(n * k);
  std::vector<int8_t> q(k);
  for (size_t t = 0; t < n; ++t) {
    const float s = quantize_row_i8_s(x + t * k, q.data(), k).scale;
    cpu::prepare_act_i8(q.data(), k, s, a.kernel.data() + t * stride);
    for (size_t i = 0; i < k; ++i) a.dequant[t * k + i] = static_cast<float>(q[i]) / s;
  }
  return a;
}

// The I2_S tensor scale of the bench's weights (the packed view keeps it;
// the naive baseline's row decoder uses it too).
constexpr float kI2SScale = 0.8125f;

// packed4 weights (trix/cpu/ternary_packed.h): block-scaled (TQ2_0, TQ1_0)
// or I2_S (one tensor scale).
cpu::PackedTernaryView packed_view(const uint8_t* data, size_t m, size_t k, bool block_scales) {
  cpu::PackedTernaryView v;
  v.data = data;
  v.rows = m;
  v.cols = k;
  v.n_blocks = k / cpu::kPackedBlock;
  v.block_scales = block_scales;
  v.tensor_scale = block_scales ? 1.0f : kI2SScale;
  return v;
}

template <class Gemv, class Gemm>
void packed_rows(Gemv gemv, Gemm gemm, const uint8_t* w, const Activations& a, size_t m, size_t k,
                 size_t n, float* y, size_t rb, size_t re, bool block_scales = true) {
  cpu::PackedMatmulArgs args;
  args.w = packed_view(w, m, k, block_scales);
  args.acts = a.kernel.data();
  args.act_stride = cpu::prepared_act_bytes(args.w.n_blocks);
  args.n_tok = n;
  args.y = y;
  args.y_stride = m;
  const size_t g0 = rb / cpu::kPackedRows, g1 = (re + cpu::kPackedRows - 1) / cpu::kPackedRows;
  if (n == 1) {
    gemv(args, g0, g1);
  } else {
    gemm(args, g0, g1);
  }
}

HugeBuffer packed_bytes(const cpu::PackedTernary& p) { return copy_of(p.view().data, p.bytes()); }

// A row-major GEMV kernel (GemvArgs) run per token over rows [rb, re); the
// activations of token t start at a.kernel + t * act_bytes(k).
template <class Gemv>
void rowmajor_rows(Gemv gemv, size_t row_bytes, size_t act_bytes, const uint8_t* w,
                   const Activations& a, size_t m, size_t k, size_t n, float* y, size_t rb, size_t re) {
  for (size_t t = 0; t < n; ++t) {
    const GemvArgs args{w, row_bytes, a.kernel.data() + t * act_bytes, k, y + t * m, m};
    gemv(args, rb, re);
  }
}

// Random bytes, then the f16 super-block scale set to a normal value: every
// Q6_K byte pattern is a valid block.
void fill_q6_k(uint8_t* rows, size_t m, size_t k, std::mt19937_64& rng) {
  auto* b = reinterpret_cast<BlockQ6_K*>(rows);
  for (size_t i = 0; i < m * (k / BlockQ6_K::kElements); ++i) {
    auto* bytes = reinterpret_cast<uint8_t*>(&b[i]);
    for (size_t j = 0; j < sizeof(BlockQ6_K); ++j) bytes[j] = static_cast<uint8_t>(rng());
    b[i].d = fp32_to_fp16(std::ldexp(0.5f + static_cast<float>(rng() % 1024) / 2048.0f, -10));
  }
}

// A GEMV kernel over rows as stored (GemvArgs), or a packed4 GEMV/GEMM.
using RowKernel = void (*)(const GemvArgs&, size_t, size_t);
using PackedKernel = void (*)(const cpu::PackedMatmulArgs&, size_t, size_t);

// The fields every format shares, from its traits: row bytes and the
// naive baseline's row decoder.
GemvFormat from_traits(FormatId id, const char* layout, const char* act) {
  const FormatTraits& t = format_traits(id);
  GemvFormat f;
  f.weight = t.name;
  f.layout = layout;
  f.act = act;
  f.row_bytes = [&t](size_t k) { return k / t.block_elements * t.block_bytes; };
  f.dequant_row = [&t](const uint8_t* row, size_t k, float* o) { t.dequantize_row(row, o, k); };
  return f;
}

// A kernel on the rows as stored: the weights are copied as they are, the
// activations of token t start at t * act_bytes(k).
GemvFormat rowmajor_format(FormatId id, const char* act, RowKernel kernel, const char* impl,
                           std::function<size_t(size_t k)> act_bytes,
                           std::function<Activations(const float*, size_t, size_t)> prepare_act,
                           std::function<void(uint8_t*, size_t, size_t, std::mt19937_64&)> fill) {
  GemvFormat f = from_traits(id, "rowmajor", act);
  f.fill = std::move(fill);
  f.pack = [f](const uint8_t* src, size_t m, size_t k) { return copy_of(src, m * f.row_bytes(k)); };
  f.prepare_act = std::move(prepare_act);
  f.rows = [f, kernel, act_bytes](const uint8_t* w, const Activations& a, size_t m, size_t k, size_t n,
                                  float* y, size_t rb, size_t re) {
    rowmajor_rows(kernel, f.row_bytes(k), act_bytes(k), w, a, m, k, n, y, rb, re);
  };
  f.ns = {1};  // n > 1 would be a loop of GEMVs
  f.impl_n1 = impl;
  f.impl_gemm = "";
  return f;
}

// Weights repacked to packed4 (trix/cpu/ternary_packed.h), GEMV and GEMM.
GemvFormat packed4_format(FormatId id, const char* act, PackedKernel gemv, PackedKernel gemm,
                          const char* impl_gemv, const char* impl_gemm,
                          std::function<void(uint8_t*, size_t, size_t, std::mt19937_64&)> fill,
                          std::function<HugeBuffer(const uint8_t*, size_t, size_t)> pack, bool block_scales) {
  GemvFormat f = from_traits(id, "packed4", act);
  f.fill = std::move(fill);
  f.pack = std::move(pack);
  f.prepare_act = block_scales ? std::function<Activations(const float*, size_t, size_t)>(
                                     [](const float* x, size_t n, size_t k) { return q8_k_activations(x, n, k, true); })
                               : i8_s_activations;
  f.rows = [gemv, gemm, block_scales](const uint8_t* w, const Activations& a, size_t m, size_t k, size_t n,
                                      float* y, size_t rb, size_t re) {
    packed_rows(gemv, gemm, w, a, m, k, n, y, rb, re, block_scales);
  };
  f.ns = {1, 512};
  f.impl_n1 = impl_gemv;
  f.impl_gemm = impl_gemm;
  return f;
}

// Random ternary TQ2_0 blocks with a normal scale.
void fill_tq2_0(uint8_t* rows, size_t m, size_t k, std::mt19937_64& rng) {
  auto* b = reinterpret_cast<BlockTQ2_0*>(rows);
  for (size_t i = 0; i < m * (k / BlockTQ2_0::kElements); ++i) {
    for (auto& q : b[i].qs) q = ternary_byte(rng);
    b[i].d = fp32_to_fp16(0.5f + static_cast<float>(rng() % 1024) / 2048.0f);
  }
}

size_t q8_k_row_bytes(size_t k) { return k / BlockQ8_K::kElements * sizeof(BlockQ8_K); }
size_t q8_0_row_bytes(size_t k) { return k / BlockQ8_0::kElements * sizeof(BlockQ8_0); }

std::vector<GemvFormat> formats() {
  std::vector<GemvFormat> out;
  const auto q8_k_rowmajor = [](const float* x, size_t n, size_t k) { return q8_k_activations(x, n, k, false); };
  out.push_back(rowmajor_format(FormatId::TQ2_0, "q8_k", cpu::gemv_tq2_0_q8_k, "gemv_tq2_0_q8_k",
                                q8_k_row_bytes, q8_k_rowmajor, fill_tq2_0));
  // The packed GEMM is the path for n > 1.
  out.push_back(packed4_format(
      FormatId::TQ2_0, "q8_k", cpu::gemv_packed_tq2_0_q8_k, cpu::gemm_packed_tq2_0_q8_k,
      "gemv_packed_tq2_0_q8_k", "gemm_packed_tq2_0_q8_k", fill_tq2_0,
      [](const uint8_t* src, size_t m, size_t k) { return packed_bytes(cpu::pack_tq2_0(src, m, k, k / 256 * sizeof(BlockTQ2_0))); },
      true));
  // TQ1_0 runs the TQ2_0 packed4 kernels (prepared_from in their specs).
  out.push_back(packed4_format(
      FormatId::TQ1_0, "q8_k", cpu::gemv_packed_tq2_0_q8_k, cpu::gemm_packed_tq2_0_q8_k,
      "gemv_packed_tq2_0_q8_k", "gemm_packed_tq2_0_q8_k",
      [](uint8_t* rows, size_t m, size_t k, std::mt19937_64& rng) {
        // Through the reference quantizer: TQ1_0's base-3 bytes are not free-form.
        std::vector<float> row(k);
        const size_t row_bytes = k / BlockTQ1_0::kElements * sizeof(BlockTQ1_0);
        for (size_t r = 0; r < m; ++r) {
          for (auto& v : row) v = static_cast<float>(static_cast<int>(rng() % 3) - 1);
          quantize_row_tq1_0(row.data(), reinterpret_cast<BlockTQ1_0*>(rows + r * row_bytes), k);
        }
      },
      [](const uint8_t* src, size_t m, size_t k) {
        return packed_bytes(cpu::pack_tq1_0(src, m, k, k / BlockTQ1_0::kElements * sizeof(BlockTQ1_0)));
      },
      true));
  {
    // I2_S rows without the tensor trailer: the scale is kI2SScale, given to
    // the packer and the row decoder directly.
    GemvFormat f = packed4_format(
        FormatId::I2_S, "i8_s", cpu::gemv_packed_i2_s_i8_s, cpu::gemm_packed_i2_s_i8_s,
        "gemv_packed_i2_s_i8_s", "gemm_packed_i2_s_i8_s",
        [](uint8_t* rows, size_t m, size_t k, std::mt19937_64& rng) {
          for (size_t i = 0; i < m * k / 4; ++i) rows[i] = ternary_byte(rng);
        },
        [](const uint8_t* src, size_t m, size_t k) { return packed_bytes(cpu::pack_i2_s(src, m, k, kI2SScale)); },
        false);
    f.row_bytes = [](size_t k) { return k / 4; };
    f.dequant_row = [](const uint8_t* row, size_t k, float* o) {
      for (size_t i = 0; i < k; ++i) {
        o[i] = static_cast<float>(static_cast<int32_t>(i2_s_code(row, i)) - 1) * kI2SScale;
      }
    };
    out.push_back(f);
  }
  out.push_back(rowmajor_format(
      FormatId::Q8_0, "q8_0", cpu::gemv_q8_0_q8_0, "gemv_q8_0_q8_0", q8_0_row_bytes,
      [](const float* x, size_t n, size_t k) {
        std::vector<BlockQ8_0> q(n * k / BlockQ8_0::kElements);
        const size_t nb = k / BlockQ8_0::kElements;
        for (size_t t = 0; t < n; ++t) quantize_row_q8_0(x + t * k, q.data() + t * nb, k);
        Activations a;
        a.dequant.resize(n * k);
        dequantize_row_q8_0(q.data(), a.dequant.data(), n * k);
        a.kernel = copy_of(reinterpret_cast<const uint8_t*>(q.data()), q.size() * sizeof(BlockQ8_0));
        return a;
      },
      [](uint8_t* rows, size_t m, size_t k, std::mt19937_64& rng) {
        auto* b = reinterpret_cast<BlockQ8_0*>(rows);
        for (size_t i = 0; i < m * (k / BlockQ8_0::kElements); ++i) {
          for (auto& q : b[i].qs) q = static_cast<int8_t>(rng());
          b[i].d = fp32_to_fp16(std::ldexp(0.5f + static_cast<float>(rng() % 1024) / 2048.0f, -7));
        }
      }));
  out.push_back(rowmajor_format(
      FormatId::F16, "f32", cpu::gemv_f16_f32, "gemv_f16_f32", [](size_t k) { return k * sizeof(float); },
      [](const float* x, size_t n, size_t k) {
        Activations a;
        a.dequant.assign(x, x + n * k);
        a.kernel = copy_of(reinterpret_cast<const uint8_t*>(x), n * k * sizeof(float));
        return a;
      },
      [](uint8_t* rows, size_t m, size_t k, std::mt19937_64& rng) {
        std::normal_distribution<float> nd(0.0f, 0.05f);
        auto* h = reinterpret_cast<uint16_t*>(rows);
        for (size_t i = 0; i < m * k; ++i) h[i] = fp32_to_fp16(nd(rng));
      }));
  out.push_back(rowmajor_format(FormatId::Q6_K, "q8_k", cpu::gemv_q6_k_q8_k, "gemv_q6_k_q8_k", q8_k_row_bytes,
                                q8_k_rowmajor, fill_q6_k));
  return out;
}

// llama.cpp (ggml d99724f2, AVX2) on another machine of this kind, from
// DESIGN.md section 4: median us per mul_mat. EXTERNAL figures, not measured
// here; that machine's DRAM read bandwidth was 24.9 GB/s (1T) / 32.2 (2T).
struct LlamaFigure {
  const char* weight;
  size_t m, k, n, threads;
  const char* cache;
  double us;
};
constexpr double kGemm512Us(double gops) { return 2.0 * 2560 * 2560 * 512 / (gops * 1e3); }
constexpr LlamaFigure kLlamaCpp[] = {
    {"tq2_0", 2560, 2560, 1, 1, "hot", 113},  {"tq2_0", 2560, 2560, 1, 1, "cold", 123},
    {"tq2_0", 2560, 2560, 1, 2, "hot", 66},   {"tq2_0", 2560, 2560, 1, 2, "cold", 95},
    {"tq2_0", 6912, 2560, 1, 1, "hot", 302},  {"tq2_0", 6912, 2560, 1, 1, "cold", 390},
    {"tq2_0", 6912, 2560, 1, 2, "hot", 173},  {"tq2_0", 6912, 2560, 1, 2, "cold", 234},
    {"tq2_0", 2560, 6912, 1, 1, "hot", 294},  {"tq2_0", 2560, 6912, 1, 1, "cold", 327},
    {"tq2_0", 2560, 6912, 1, 2, "hot", 169},  {"tq2_0", 2560, 6912, 1, 2, "cold", 220},
    {"tq1_0", 2560, 2560, 1, 1, "hot", 221},  {"tq1_0", 2560, 2560, 1, 1, "cold", 269},
    {"tq1_0", 2560, 2560, 1, 2, "hot", 125},  {"tq1_0", 2560, 2560, 1, 2, "cold", 143},
    {"q8_0", 2560, 2560, 1, 1, "hot", 234},   {"q8_0", 2560, 2560, 1, 1, "cold", 401},
    {"q8_0", 2560, 2560, 1, 2, "hot", 130},   {"q8_0", 2560, 2560, 1, 2, "cold", 260},
    {"tq2_0", 2560, 2560, 512, 1, "hot", kGemm512Us(112)},
    {"tq2_0", 2560, 2560, 512, 2, "hot", kGemm512Us(209)},
    {"tq1_0", 2560, 2560, 512, 1, "hot", kGemm512Us(56)},
    {"tq1_0", 2560, 2560, 512, 2, "hot", kGemm512Us(112)},
    {"q8_0", 2560, 2560, 512, 1, "hot", kGemm512Us(52)},
    {"q8_0", 2560, 2560, 512, 2, "hot", kGemm512Us(105)},
};

double llama_cpp_us(const Record& r) {
  for (const auto& f : kLlamaCpp) {
    if (r.weight_format == f.weight && r.m == f.m && r.k == f.k && r.n == f.n &&
        r.threads == f.threads && r.cache == f.cache) {
      return f.us;
    }
  }
  return 0;
}

// Row ranges per thread, in units of 16 rows so every thread but the last
// runs the kernels' multi-row fast path only.
std::pair<size_t, size_t> row_range(size_t m, size_t threads, size_t task) {
  const size_t units = (m + 15) / 16;
  const auto [b, e] = ThreadPool::chunk(units, threads, task);
  return {std::min(m, b * 16), std::min(m, e * 16)};
}

struct Shape {
  size_t m, k;
};

void run_shape(Context& ctx, const GemvFormat& fmt, Shape s, size_t n) {
  const size_t src_row_bytes = fmt.row_bytes(s.k);
  const size_t src_bytes = s.m * src_row_bytes;
  auto name_of = [&](const char* cache, size_t threads) {
    return std::string(n == 1 ? "gemv" : "gemm") + "/" + fmt.weight + "@" + fmt.layout + "/" +
           fmt.act + "/" + std::to_string(s.m) + "x" + std::to_string(s.k) + "/n" +
           std::to_string(n) + "/" + cache + "/" + std::to_string(threads) + "t";
  };
  bool any = false;
  for (const char* cache : {"hot", "cold"}) {
    for (size_t t : ctx.opt.threads) any = any || selected(ctx, name_of(cache, t));
  }
  if (!any) return;

  std::mt19937_64 rng(s.m * 1000003 + s.k);
  HugeBuffer src(src_bytes);
  fmt.fill(src.data(), s.m, s.k, rng);
  const HugeBuffer packed = fmt.pack(src.data(), s.m, s.k);
  const size_t kernel_bytes = packed.size();

  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> xf(n * s.k);
  for (auto& v : xf) v = nd(rng);
  const Activations act = fmt.prepare_act(xf.data(), n, s.k);

  std::vector<float> y(n * s.m), y_naive(n * s.m);
  const size_t max_threads = ctx.pool->num_threads();
  std::vector<std::vector<float>> row_buf(max_threads, std::vector<float>(s.k));
  const bool quick = ctx.opt.quick;
  const double budget = ctx.opt.seconds_per_case * 1e6;

  for (const char* cache : {"hot", "cold"}) {
    const bool cold = std::string(cache) == "cold";
    std::vector<Record> recs;
    for (size_t threads : ctx.opt.threads) {
      if (threads > max_threads || !selected(ctx, name_of(cache, threads))) continue;
      Record rec;
      rec.name = name_of(cache, threads);
      rec.op = n == 1 ? "gemv" : "gemm";
      rec.weight_format = fmt.weight;
      rec.layout = fmt.layout;
      rec.act_format = fmt.act;
      rec.impl = n == 1 ? fmt.impl_n1 : fmt.impl_gemm;
      rec.m = s.m;
      rec.k = s.k;
      rec.n = n;
      rec.threads = threads;
      rec.cache = cache;
      recs.push_back(rec);
    }
    if (recs.empty()) continue;

    // Cold: every call reads a different copy among >= opt.cold_bytes of
    // them (the big buffer), first in the kernel's layout, then in the file
    // format for the naive baseline.
    auto fill_copies = [&](const uint8_t* one, size_t bytes) {
      const size_t copies = std::max<size_t>(2, ctx.big->size() / bytes);
      for (size_t c = 0; c < copies; ++c) std::memcpy(ctx.big->data() + c * bytes, one, bytes);
      return copies;
    };
    size_t copies = cold ? fill_copies(packed.data(), kernel_bytes) : 1;
    for (Record& rec : recs) {
      const size_t threads = rec.threads;
      auto kernel = [&](size_t call) {
        const uint8_t* w = cold ? ctx.big->data() + (call % copies) * kernel_bytes : packed.data();
        ctx.pool->parallel_for(threads, [&](size_t task, size_t) {
          const auto [rb, re] = row_range(s.m, threads, task);
          fmt.rows(w, act, s.m, s.k, n, y.data(), rb, re);
        });
      };
      rec.us_per_call = time_calls(kernel, quick ? 2 : (n == 1 ? 20 : 3), quick ? 3 : 5000, budget,
                                   &rec.reps, &rec.us_min);
    }
    copies = cold ? fill_copies(src.data(), src_bytes) : 1;
    for (Record& rec : recs) {
      const size_t threads = rec.threads;
      auto naive = [&](size_t call) {
        const uint8_t* w = cold ? ctx.big->data() + (call % copies) * src_bytes : src.data();
        ctx.pool->parallel_for(threads, [&](size_t task, size_t thread) {
          const auto [rb, re] = row_range(s.m, threads, task);
          float* row = row_buf[thread].data();
          for (size_t r = rb; r < re; ++r) {
            fmt.dequant_row(w + r * src_row_bytes, s.k, row);
            for (size_t t = 0; t < n; ++t) {
              y_naive[t * s.m + r] = naive_dot_f32(row, act.dequant.data() + t * s.k, s.k);
            }
          }
        });
      };
      rec.naive_us = time_calls(naive, 1, quick ? 1 : (n == 1 ? 200 : 1), n == 1 ? budget : 0);

      // Sanity check of what was timed (y holds the last kernel call):
      // kernel and naive agree within the float rounding of a K-term sum.
      double worst = 0;
      const double scale = std::sqrt(static_cast<double>(s.k)) * 4.0;
      for (size_t i = 0; i < y.size(); i += std::max<size_t>(1, y.size() / 4096)) {
        worst = std::max(worst, std::fabs(double{y[i]} - y_naive[i]) / scale);
      }
      if (!(worst < 1e-3)) {
        throw Error("trix-bench: " + rec.name + " disagrees with the naive baseline (" +
                    std::to_string(worst) + ")");
      }

      rec.weight_bytes = static_cast<double>(kernel_bytes);
      rec.weight_gbps = rec.weight_bytes / (rec.us_per_call * 1e3);
      rec.pct_of_dram = threads < 3 && ctx.dram_gbps[threads] > 0
                            ? 100.0 * rec.weight_gbps / ctx.dram_gbps[threads]
                            : 0;
      rec.gops = 2.0 * static_cast<double>(s.m) * s.k * n / (rec.us_per_call * 1e3);
      rec.speedup_vs_naive = rec.naive_us / rec.us_per_call;
      rec.llama_cpp_us = llama_cpp_us(rec);
      rec.vs_llama_cpp = rec.llama_cpp_us > 0 ? rec.llama_cpp_us / rec.us_per_call : 0;
      ctx.records.push_back(rec);
      print_record(ctx, rec);
    }
  }
}

}  // namespace

void run_gemv_cases(Context& ctx) {
  // BitNet-b1.58-2B-4T projections: q/o (2560x2560), gate/up (6912x2560),
  // down (2560x6912), k/v (640x2560).
  const Shape shapes[] = {{2560, 2560}, {6912, 2560}, {2560, 6912}, {640, 2560}};
  for (const auto& fmt : formats()) {
    for (size_t n : fmt.ns) {
      for (Shape s : shapes) run_shape(ctx, fmt, s, n);
    }
  }
}

}  // namespace trix::bench
