// GEMV (n = 1) and GEMM (n = 512) cases on BitNet-b1.58-2B-4T shapes: the
// dispatched kernels against the naive baseline (dequantize a weight row to
// f32, then an f32 dot with the dequantized activations) and against
// llama.cpp's published figures (DESIGN.md section 4).
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
#include "trix/cpu/dispatch.h"
#include "trix/formats/blocks.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq2_0.h"
#include "trix/kernels/gemv_args.h"

namespace trix::bench {
namespace {

// One weight format x activation format pairing the bench knows how to run.
struct GemvFormat {
  const char* weight;
  const char* act;
  std::function<size_t(size_t k)> row_bytes;
  std::function<void(uint8_t* row, size_t k, std::mt19937_64& rng)> fill_row;
  // Activations of n tokens in the kernel's input form.
  std::function<std::vector<uint8_t>(const float* x, size_t n, size_t k)> prepare_act;
  // The same activations as the floats the kernel effectively sees.
  std::function<void(const uint8_t* act, size_t n, size_t k, float* out)> dequant_act;
  std::function<void(const uint8_t* row, size_t k, float* out)> dequant_row;
  // y[t * m + r] for tokens t < n and rows r in [rb, re).
  std::function<void(const uint8_t* w, const uint8_t* act, size_t m, size_t k, size_t n, float* y,
                     size_t rb, size_t re)>
      rows;
  const char* impl_n1;
  const char* impl_gemm;  // how n > 1 is computed
};

// A byte whose four 2-bit fields are all valid ternary codes (0, 1, 2).
uint8_t ternary_byte(std::mt19937_64& rng) {
  uint8_t b = 0;
  for (int f = 0; f < 4; ++f) b = static_cast<uint8_t>(b | ((rng() % 3) << (2 * f)));
  return b;
}

std::vector<GemvFormat> formats() {
  std::vector<GemvFormat> out;
  {
    GemvFormat f;
    f.weight = "tq2_0";
    f.act = "q8_k";
    f.row_bytes = [](size_t k) { return k / BlockTQ2_0::kElements * sizeof(BlockTQ2_0); };
    f.fill_row = [](uint8_t* row, size_t k, std::mt19937_64& rng) {
      auto* b = reinterpret_cast<BlockTQ2_0*>(row);
      for (size_t i = 0; i < k / BlockTQ2_0::kElements; ++i) {
        for (auto& q : b[i].qs) q = ternary_byte(rng);
        b[i].d = fp32_to_fp16(0.5f + static_cast<float>(rng() % 1024) / 2048.0f);
      }
    };
    f.prepare_act = [](const float* x, size_t n, size_t k) {
      std::vector<uint8_t> a(n * (k / BlockQ8_K::kElements) * sizeof(BlockQ8_K));
      for (size_t t = 0; t < n; ++t) {
        quantize_row_q8_k(x + t * k, reinterpret_cast<BlockQ8_K*>(a.data()) + t * (k / 256), k);
      }
      return a;
    };
    f.dequant_act = [](const uint8_t* a, size_t n, size_t k, float* out) {
      dequantize_row_q8_k(reinterpret_cast<const BlockQ8_K*>(a), out, n * k);
    };
    f.dequant_row = [](const uint8_t* row, size_t k, float* out) {
      dequantize_row_tq2_0(reinterpret_cast<const BlockTQ2_0*>(row), out, k);
    };
    f.rows = [](const uint8_t* w, const uint8_t* act, size_t m, size_t k, size_t n, float* y,
                size_t rb, size_t re) {
      const auto* x = reinterpret_cast<const BlockQ8_K*>(act);
      for (size_t t = 0; t < n; ++t) {
        const GemvArgs args{w, k / 256 * sizeof(BlockTQ2_0), x + t * (k / 256), k, y + t * m, m};
        cpu::gemv_tq2_0_q8_k(args, rb, re);
      }
    };
    f.impl_n1 = "gemv_tq2_0_q8_k";
    f.impl_gemm = "gemv_tq2_0_q8_k per token";
    out.push_back(f);
  }
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
  const size_t row_bytes = fmt.row_bytes(s.k);
  const size_t matrix_bytes = s.m * row_bytes;
  auto name_of = [&](const char* cache, size_t threads) {
    return std::string(n == 1 ? "gemv" : "gemm") + "/" + fmt.weight + "/" + fmt.act + "/" +
           std::to_string(s.m) + "x" + std::to_string(s.k) + "/n" + std::to_string(n) + "/" +
           cache + "/" + std::to_string(threads) + "t";
  };
  bool any = false;
  for (const char* cache : {"hot", "cold"}) {
    for (size_t t : ctx.opt.threads) any = any || selected(ctx, name_of(cache, t));
  }
  if (!any) return;

  // One matrix, then copied to fill the cold set: the values do not matter
  // for speed, only that every copy is distinct memory.
  std::mt19937_64 rng(s.m * 1000003 + s.k);
  HugeBuffer hot(matrix_bytes);
  for (size_t r = 0; r < s.m; ++r) fmt.fill_row(hot.data() + r * row_bytes, s.k, rng);
  const size_t copies = std::max<size_t>(2, ctx.big->size() / matrix_bytes);
  for (size_t c = 0; c < copies; ++c) std::memcpy(ctx.big->data() + c * matrix_bytes, hot.data(), matrix_bytes);

  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> xf(n * s.k);
  for (auto& v : xf) v = nd(rng);
  const std::vector<uint8_t> act = fmt.prepare_act(xf.data(), n, s.k);
  std::vector<float> xd(n * s.k);
  fmt.dequant_act(act.data(), n, s.k, xd.data());

  std::vector<float> y(n * s.m), y_naive(n * s.m);
  const size_t max_threads = ctx.pool->num_threads();
  std::vector<std::vector<float>> row_buf(max_threads, std::vector<float>(s.k));

  for (const char* cache : {"hot", "cold"}) {
    const bool cold = std::string(cache) == "cold";
    auto weights = [&](size_t call) {
      return cold ? ctx.big->data() + (call % copies) * matrix_bytes : hot.data();
    };
    for (size_t threads : ctx.opt.threads) {
      if (threads > max_threads) continue;
      Record rec;
      rec.name = name_of(cache, threads);
      if (!selected(ctx, rec.name)) continue;
      rec.op = n == 1 ? "gemv" : "gemm";
      rec.weight_format = fmt.weight;
      rec.act_format = fmt.act;
      rec.impl = n == 1 ? fmt.impl_n1 : fmt.impl_gemm;
      rec.m = s.m;
      rec.k = s.k;
      rec.n = n;
      rec.threads = threads;
      rec.cache = cache;

      auto kernel = [&](size_t call) {
        const uint8_t* w = weights(call);
        ctx.pool->parallel_for(threads, [&](size_t task, size_t) {
          const auto [rb, re] = row_range(s.m, threads, task);
          fmt.rows(w, act.data(), s.m, s.k, n, y.data(), rb, re);
        });
      };
      auto naive = [&](size_t call) {
        const uint8_t* w = weights(call);
        ctx.pool->parallel_for(threads, [&](size_t task, size_t thread) {
          const auto [rb, re] = row_range(s.m, threads, task);
          float* row = row_buf[thread].data();
          for (size_t r = rb; r < re; ++r) {
            fmt.dequant_row(w + r * row_bytes, s.k, row);
            for (size_t t = 0; t < n; ++t) y_naive[t * s.m + r] = naive_dot_f32(row, xd.data() + t * s.k, s.k);
          }
        });
      };

      const bool quick = ctx.opt.quick;
      const double budget = ctx.opt.seconds_per_case * 1e6;
      rec.us_per_call = time_calls(kernel, quick ? 2 : (n == 1 ? 20 : 3), quick ? 3 : 2000,
                                   budget, &rec.reps);
      rec.naive_us = time_calls(naive, quick ? 1 : (n == 1 ? 5 : 1), quick ? 1 : 200, budget);

      // Sanity check of what was timed: kernel and naive agree within the
      // float rounding of a K-term sum (both use the same activations).
      double worst = 0;
      for (size_t i = 0; i < y.size(); i += std::max<size_t>(1, y.size() / 4096)) {
        const double scale = std::sqrt(static_cast<double>(s.k)) * 4.0;
        worst = std::max(worst, std::fabs(double{y[i]} - y_naive[i]) / scale);
      }
      if (!(worst < 1e-3)) {
        std::fprintf(stderr, "trix-bench: %s disagrees with the naive baseline (%g)\n",
                     rec.name.c_str(), worst);
        throw Error("trix-bench: kernel result check failed for " + rec.name);
      }

      rec.weight_bytes = static_cast<double>(matrix_bytes);
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
    for (size_t n : {size_t{1}, size_t{512}}) {
      for (Shape s : shapes) run_shape(ctx, fmt, s, n);
    }
  }
}

}  // namespace trix::bench
