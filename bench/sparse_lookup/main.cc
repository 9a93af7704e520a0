// trix-bench-sparse-lookup: per token, the TriX SparseLookupFFN (issue 16)
// against a dense SwiGLU FFN of the same d_model (hidden 4d, Q8_0 and TQ2_0
// weights, the runtime's prepared kernels), at d_model 128, 512, 2048, 64
// and 256 tiles, 1 and 2 threads: microseconds (median), bytes read per
// token and parameters. Then whole-model decode and prefill tokens/s of the
// two trix_sparse_lookup spec shapes (random weights; the 24-layer d 2048
// one with Q8_0 projections so that it fits in memory, optional: --model-big).
//
//   trix-bench-sparse-lookup [--json FILE] [--threads 1,2] [--quick] [--model-big]
//
// Weights are random (speed does not depend on values; routing spreads over
// the tiles). Every case rotates through copies of its weights totalling at
// least 256 MiB (fewer for --quick), so each call reads them from DRAM, not
// from a cache warmed by the previous call ("cold"). The machine may be
// shared with builds: the numbers are indicative; us_min shows the least
// disturbed call.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "bench.h"
#include "trix/core/fp16.h"
#include "trix/core/thread_pool.h"
#include "trix/cpu/ops.h"
#include "trix/formats/blocks.h"
#include "trix/models/trix_sparse_lookup_d128_shape.h"
#include "trix/models/trix_sparse_lookup_d2048_shape.h"
#include "trix/runtime/matmul.h"
#include "trix/runtime/sparse_lookup.h"
#include "trix/runtime/trix_lm.h"

namespace {

using namespace trix;

// Random bytes of a valid `format` matrix (Q8_0: int8 codes, scale 1/127;
// TQ2_0: codes 0..2, scale 1; F32: N(0, 1/sqrt(cols))).
std::vector<uint8_t> random_matrix(std::mt19937& rng, FormatId format, int64_t rows, int64_t cols) {
  const WeightView v{nullptr, format, rows, cols, 1.0f};
  std::vector<uint8_t> bytes(static_cast<size_t>(v.row_bytes() * rows));
  if (format == FormatId::F32) {
    std::normal_distribution<float> n(0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
    for (size_t i = 0; i < bytes.size(); i += 4) {
      const float f = n(rng);
      std::memcpy(&bytes[i], &f, 4);
    }
    return bytes;
  }
  std::uniform_int_distribution<int> byte(0, 255), code(0, 2);
  const size_t block = format_info(format).block_bytes;
  const uint16_t scale = fp32_to_fp16(format == FormatId::Q8_0 ? 1.0f / 127.0f : 1.0f);
  for (size_t b = 0; b < bytes.size(); b += block) {
    if (format == FormatId::Q8_0) {
      std::memcpy(&bytes[b], &scale, 2);
      for (size_t i = 2; i < block; ++i) bytes[b + i] = static_cast<uint8_t>(byte(rng));
    } else {  // TQ2_0: 64 code bytes, then the f16 scale
      for (size_t i = 0; i < 64; ++i) {
        bytes[b + i] = static_cast<uint8_t>(code(rng) | code(rng) << 2 | code(rng) << 4 | code(rng) << 6);
      }
      std::memcpy(&bytes[b + 64], &scale, 2);
    }
  }
  return bytes;
}

struct Row {
  std::string ffn, weights;
  int64_t dim = 0, tiles = 0, threads = 0;
  double us = 0, us_min = 0, bytes = 0, params = 0;
};

// Copies so that the weights of all of them exceed `cold_bytes`.
size_t copies_for(double bytes_per_copy, size_t cold_bytes) {
  return static_cast<size_t>(std::clamp(std::ceil(static_cast<double>(cold_bytes) / bytes_per_copy), 1.0, 512.0));
}

// One dense SwiGLU FFN: x += down(silu(gate n(x)) * up n(x)).
struct DenseFfn {
  std::vector<uint8_t> gate, up, down;
  PreparedWeight pg, pu, pd;
};

Row bench_dense(FormatId format, int64_t d, size_t threads, const bench::Options& opt, std::mt19937& rng) {
  const int64_t hidden = 4 * d;
  const DenseFfn proto{random_matrix(rng, format, hidden, d), random_matrix(rng, format, hidden, d),
                       random_matrix(rng, format, d, hidden), {}, {}, {}};
  const double bytes = static_cast<double>(proto.gate.size() + proto.up.size() + proto.down.size()) + 4.0 * d;
  std::vector<std::unique_ptr<DenseFfn>> copies;
  for (size_t c = 0; c < copies_for(bytes, opt.cold_bytes); ++c) {
    auto f = std::make_unique<DenseFfn>(DenseFfn{proto.gate, proto.up, proto.down, {}, {}, {}});
    f->pg = prepare_weight({f->gate.data(), format, hidden, d, 1.0f});
    f->pu = prepare_weight({f->up.data(), format, hidden, d, 1.0f});
    f->pd = prepare_weight({f->down.data(), format, d, hidden, 1.0f});
    copies.push_back(std::move(f));
  }
  ThreadPool pool(threads);
  PreparedScratch scratch;
  std::vector<float> x(static_cast<size_t>(d), 0.5f), xn(static_cast<size_t>(d)), norm(static_cast<size_t>(d), 1.0f);
  std::vector<float> g(static_cast<size_t>(hidden)), u(static_cast<size_t>(hidden)), y(static_cast<size_t>(d));
  size_t reps = 0;
  double us_min = 0;
  const double us = bench::time_calls(
      [&](size_t i) {
        const DenseFfn& f = *copies[i % copies.size()];
        cpu::ops::rmsnorm(x.data(), norm.data(), xn.data(), static_cast<size_t>(d), 1e-5f);
        matmul(f.pg, xn.data(), 1, g.data(), pool, scratch);
        matmul(f.pu, xn.data(), 1, u.data(), pool, scratch);
        cpu::ops::swiglu(g.data(), u.data(), static_cast<size_t>(hidden));
        matmul(f.pd, g.data(), 1, y.data(), pool, scratch);
        cpu::ops::axpy(1e-3f, y.data(), x.data(), static_cast<size_t>(d));  // bounded residual
      },
      opt.quick ? 5 : 50, 100000, opt.seconds_per_case * 1e6, &reps, &us_min);
  return {"dense_swiglu_4d", format_name(format), d, 0, static_cast<int64_t>(threads), us, us_min, bytes,
          3.0 * static_cast<double>(hidden * d) + static_cast<double>(d)};
}

// The F32 tensors of one random SparseLookupFFN and its prepared form.
struct Slf {
  std::vector<float> norm_w, norm_b, dirs, b1, b2, coeffs, scale;
  std::vector<uint8_t> w1, w2;
  float output_scale = 0.1f;
  PreparedSparseLookup prep;
};

std::vector<float> normal(std::mt19937& rng, size_t n, float sd, float mean = 0.0f) {
  std::normal_distribution<float> dist(mean, sd);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

SparseLookupWeights slf_views(const Slf& s, const SparseLookupDims& d, FormatId w_format) {
  const auto f32 = [](const std::vector<float>& v, int64_t r, int64_t c) { return WeightView{v.data(), FormatId::F32, r, c, 1.0f}; };
  SparseLookupWeights w;
  w.norm_weight = f32(s.norm_w, 1, d.dim);
  w.norm_bias = f32(s.norm_b, 1, d.dim);
  w.directions = f32(s.dirs, d.tiles, d.dim);
  w.compress_in = {s.w1.data(), w_format, d.compress_hidden, d.dim, 1.0f};
  w.compress_in_bias = f32(s.b1, 1, d.compress_hidden);
  w.compress_out = {s.w2.data(), FormatId::F32, 2, d.compress_hidden, 1.0f};
  w.compress_out_bias = f32(s.b2, 1, 2);
  w.spline_coeffs = f32(s.coeffs, d.tiles, d.spline_values());
  w.spline_scale = f32(s.scale, 1, d.tiles);
  w.output_scale = {&s.output_scale, FormatId::F32, 1, 1, 1.0f};
  return w;
}

Row bench_slf(int64_t dim, int64_t tiles, FormatId w1_format, size_t threads, const bench::Options& opt,
              std::mt19937& rng) {
  const SparseLookupDims dims{dim, tiles, tiles / 8 >= 16 ? 16 : 8, 16, dim / 4, 1e-5f};
  const auto d = static_cast<size_t>(dim), h = static_cast<size_t>(dims.compress_hidden), t = static_cast<size_t>(tiles);
  Slf proto;
  proto.norm_w = normal(rng, d, 0.1f, 1.0f);
  proto.norm_b = normal(rng, d, 0.1f);
  proto.dirs = normal(rng, t * d, 0.5f);
  proto.w1 = random_matrix(rng, w1_format, dims.compress_hidden, dim);
  proto.b1 = normal(rng, h, 0.1f);
  proto.w2 = random_matrix(rng, FormatId::F32, 2, dims.compress_hidden);
  proto.b2 = normal(rng, 2, 0.1f);
  proto.coeffs = normal(rng, t * static_cast<size_t>(dims.spline_values()), 0.6f);
  proto.scale = normal(rng, t, 0.3f, 1.0f);
  proto.prep = prepare_sparse_lookup(dims, slf_views(proto, dims, w1_format));
  const double bytes = static_cast<double>(proto.prep.bytes_per_token());
  // The whole layer's weights, which a run of tokens spreads its reads over.
  const double layer_bytes = static_cast<double>(proto.w1.size() + proto.w2.size()) +
                             4.0 * static_cast<double>(proto.dirs.size() + proto.coeffs.size());
  std::vector<std::unique_ptr<Slf>> copies;
  for (size_t c = 0; c < copies_for(layer_bytes, opt.cold_bytes); ++c) {
    auto s = std::make_unique<Slf>(proto);
    s->prep = prepare_sparse_lookup(dims, slf_views(*s, dims, w1_format));
    copies.push_back(std::move(s));
  }
  ThreadPool pool(threads);
  SparseLookupScratch scratch(dims, 1);
  std::vector<float> x = normal(rng, d, 1.0f);
  const std::vector<float> x0 = x;
  size_t reps = 0;
  double us_min = 0;
  const double us = bench::time_calls(
      [&](size_t i) {
        if (i % 64 == 0) x = x0;  // keep the residual bounded
        sparse_lookup_block(copies[i % copies.size()]->prep, 1, x.data(), scratch, pool);
      },
      opt.quick ? 5 : 50, 100000, opt.seconds_per_case * 1e6, &reps, &us_min);
  const double params = 2.0 * dim + static_cast<double>(h * d + h + 2 * h + 2) + static_cast<double>(t * d) +
                        static_cast<double>(t) * static_cast<double>(dims.spline_values()) + static_cast<double>(t) + 1;
  std::string w = "compress ";
  w += format_name(w1_format);
  return {"sparse_lookup_" + std::to_string(tiles) + "t", w, dim, tiles, static_cast<int64_t>(threads), us, us_min,
          bytes, params};
}

struct ModelRow {
  std::string model, weights;
  int64_t threads = 0;
  double decode_tps = 0, prefill_tps = 0;
};

template <class Spec>
ModelRow bench_model(FormatId proj_format, size_t threads, const bench::Options& opt, std::mt19937& rng) {
  TrixLmConfig c;
  c.dim = Spec::dim;
  c.n_layers = Spec::n_layers;
  c.n_heads = Spec::n_heads;
  c.vocab_size = Spec::vocab;
  c.context_length = Spec::context;
  c.tiles = Spec::tiles;
  c.tiles_per_cluster = Spec::tiles_per_cluster;
  c.grid = Spec::grid;
  c.compress_hidden = Spec::compress_hidden;
  const auto d = static_cast<size_t>(c.dim);
  struct LayerStore {
    std::vector<float> ln_w, ln_b, qkv_b, out_b;
    std::vector<uint8_t> qkv, out;
    Slf ffn;
  };
  std::vector<std::unique_ptr<LayerStore>> store;
  TrixLmWeights w;
  const std::vector<uint8_t> embd = random_matrix(rng, proj_format, c.vocab_size, c.dim);
  const std::vector<float> pos = normal(rng, static_cast<size_t>(c.context_length) * d, 0.1f);
  const std::vector<float> ones(d, 1.0f), zeros(d, 0.0f);
  w.token_embd = {embd.data(), proj_format, c.vocab_size, c.dim, 1.0f};
  w.position_embd = {pos.data(), FormatId::F32, c.context_length, c.dim, 1.0f};
  w.output_norm_weight = {ones.data(), FormatId::F32, 1, c.dim, 1.0f};
  w.output_norm_bias = {zeros.data(), FormatId::F32, 1, c.dim, 1.0f};
  const SparseLookupDims dims = c.ffn_dims();
  for (int64_t l = 0; l < c.n_layers; ++l) {
    auto s = std::make_unique<LayerStore>();
    s->ln_w = ones;
    s->ln_b = zeros;
    s->qkv = random_matrix(rng, proj_format, 3 * c.dim, c.dim);
    s->qkv_b = normal(rng, 3 * d, 0.01f);
    s->out = random_matrix(rng, proj_format, c.dim, c.dim);
    s->out_b = normal(rng, d, 0.01f);
    Slf& f = s->ffn;
    f.norm_w = ones;
    f.norm_b = zeros;
    f.dirs = normal(rng, static_cast<size_t>(c.tiles) * d, 0.02f);
    f.w1 = random_matrix(rng, proj_format, c.compress_hidden, c.dim);
    f.b1 = normal(rng, static_cast<size_t>(c.compress_hidden), 0.1f);
    f.w2 = random_matrix(rng, FormatId::F32, 2, c.compress_hidden);
    f.b2 = normal(rng, 2, 0.1f);
    f.coeffs = normal(rng, static_cast<size_t>(c.tiles * dims.spline_values()), 0.6f);
    f.scale = normal(rng, static_cast<size_t>(c.tiles), 0.3f, 1.0f);
    TrixLmLayerWeights L;
    L.attn_norm_weight = {s->ln_w.data(), FormatId::F32, 1, c.dim, 1.0f};
    L.attn_norm_bias = {s->ln_b.data(), FormatId::F32, 1, c.dim, 1.0f};
    L.attn_qkv = {s->qkv.data(), proj_format, 3 * c.dim, c.dim, 1.0f};
    L.attn_qkv_bias = {s->qkv_b.data(), FormatId::F32, 1, 3 * c.dim, 1.0f};
    L.attn_output = {s->out.data(), proj_format, c.dim, c.dim, 1.0f};
    L.attn_output_bias = {s->out_b.data(), FormatId::F32, 1, c.dim, 1.0f};
    L.ffn = slf_views(f, dims, proj_format);
    w.layers.push_back(L);
    store.push_back(std::move(s));
  }
  const PreparedTrixLm model = prepare_trix_lm(c, w);
  ThreadPool pool(threads);
  const auto shape = TrixLmRuntimeShape::from(c);
  const int64_t n_prefill = opt.quick ? 16 : 128, n_decode = opt.quick ? 4 : 32;
  std::vector<int32_t> prompt(static_cast<size_t>(n_prefill));
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(i * 7 % static_cast<size_t>(c.vocab_size));
  {
    // Untimed warm-up: first-call allocations of the matmul scratch.
    TrixLmState warm(c, 64, pool.num_threads());
    (void)trix_lm_forward(shape, model, prompt, 0, warm, pool);
  }
  TrixLmState st(c, 64, pool.num_threads());
  const double t0 = bench::now_us();
  (void)trix_lm_forward(shape, model, prompt, 0, st, pool);
  const double t1 = bench::now_us();
  for (int64_t i = 0; i < n_decode; ++i) {
    const int32_t tok[] = {static_cast<int32_t>(i % c.vocab_size)};
    (void)trix_lm_forward(shape, model, tok, n_prefill + i, st, pool);
  }
  const double t2 = bench::now_us();
  return {Spec::kName, format_name(proj_format), static_cast<int64_t>(threads),
          static_cast<double>(n_decode) / ((t2 - t1) * 1e-6), static_cast<double>(n_prefill) / ((t1 - t0) * 1e-6)};
}

}  // namespace

int main(int argc, char** argv) {
  trix::bench::Options opt;
  opt.cold_bytes = size_t{256} << 20;
  std::string json_path;
  bool model_big = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--threads" && i + 1 < argc) {
      opt.threads.clear();
      std::stringstream ss(argv[++i]);
      for (std::string t; std::getline(ss, t, ',');) opt.threads.push_back(std::stoul(t));
    } else if (a == "--quick") {
      opt.quick = true;
      opt.cold_bytes = size_t{8} << 20;
      opt.seconds_per_case = 0.02;
    } else if (a == "--model-big") {
      model_big = true;
    } else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--threads 1,2] [--quick] [--model-big]\n", argv[0]);
      return 2;
    }
  }
  std::mt19937 rng(2026);
  std::vector<Row> rows;
  try {
    for (int64_t d : {128, 512, 2048}) {
      for (size_t th : opt.threads) {
        for (FormatId f : {FormatId::Q8_0, FormatId::TQ2_0}) {
          if (d % 256 != 0 && f == FormatId::TQ2_0) continue;  // TQ2_0 rows are 256-element blocks
          rows.push_back(bench_dense(f, d, th, opt, rng));
        }
        for (int64_t tiles : {64, 256}) {
          // W1 as the reference trains it (f32), and quantized: Q8_0, and
          // TQ2_0 (ternary, which the reference does not train: shown for
          // what the layout would allow).
          for (FormatId f : {FormatId::F32, FormatId::Q8_0, FormatId::TQ2_0}) {
            if (d % 256 != 0 && f == FormatId::TQ2_0) continue;
            rows.push_back(bench_slf(d, tiles, f, th, opt, rng));
          }
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  // Speed-ups against the dense TQ2_0 FFN of the same width and threads:
  // of the medians, and of the fastest calls (less exposed to other load,
  // which slows the long dense calls more than the short sparse ones).
  std::printf("%-22s %-14s %6s %5s %3s %10s %10s %12s %12s %9s %9s\n", "ffn", "weights", "d", "tiles", "thr",
              "us/token", "us min", "bytes/token", "params", "vs TQ2_0", "(min)");
  std::ostringstream js;
  js << "{\"ffn\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    double tq2 = 0, tq2_min = 0;
    for (const Row& o : rows) {
      if (o.ffn == "dense_swiglu_4d" && o.weights == format_name(FormatId::TQ2_0) && o.dim == r.dim &&
          o.threads == r.threads) {
        tq2 = o.us;
        tq2_min = o.us_min;
      }
    }
    const double speedup = tq2 > 0 ? tq2 / r.us : 0, speedup_min = tq2_min > 0 ? tq2_min / r.us_min : 0;
    std::printf("%-22s %-14s %6lld %5lld %3lld %10.2f %10.2f %12.0f %12.0f %8.1fx %8.1fx\n", r.ffn.c_str(),
                r.weights.c_str(), static_cast<long long>(r.dim), static_cast<long long>(r.tiles),
                static_cast<long long>(r.threads), r.us, r.us_min, r.bytes, r.params, speedup, speedup_min);
    js << "  {\"ffn\": \"" << r.ffn << "\", \"weights\": \"" << r.weights << "\", \"d_model\": " << r.dim
       << ", \"tiles\": " << r.tiles << ", \"threads\": " << r.threads << ", \"us_per_token\": " << r.us
       << ", \"us_min\": " << r.us_min << ", \"bytes_per_token\": " << r.bytes << ", \"params\": " << r.params
       << ", \"speedup_vs_dense_tq2_0\": " << speedup << ", \"speedup_vs_dense_tq2_0_min\": " << speedup_min << "}" << (i + 1 < rows.size() ? "," : "") << "\n";
  }
  js << "],\n\"models\": [\n";
  std::vector<ModelRow> models;
  for (size_t th : opt.threads) {
    models.push_back(bench_model<trix::models::TrixSparseLookupD128Shape>(FormatId::F32, th, opt, rng));
    if (model_big) models.push_back(bench_model<trix::models::TrixSparseLookupD2048Shape>(FormatId::Q8_0, th, opt, rng));
  }
  std::printf("\n%-26s %-8s %3s %14s %14s\n", "model", "weights", "thr", "decode tok/s", "prefill tok/s");
  for (size_t i = 0; i < models.size(); ++i) {
    const ModelRow& m = models[i];
    std::printf("%-26s %-8s %3lld %14.1f %14.1f\n", m.model.c_str(), m.weights.c_str(),
                static_cast<long long>(m.threads), m.decode_tps, m.prefill_tps);
    js << "  {\"model\": \"" << m.model << "\", \"weights\": \"" << m.weights << "\", \"threads\": " << m.threads
       << ", \"decode_tokens_per_s\": " << m.decode_tps << ", \"prefill_tokens_per_s\": " << m.prefill_tps << "}"
       << (i + 1 < models.size() ? "," : "") << "\n";
  }
  js << "]}\n";
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << js.str();
    if (!out) {
      std::fprintf(stderr, "error: cannot write %s\n", json_path.c_str());
      return 1;
    }
  }
  return 0;
}
