// trix-bench-model: whole-model speed.
//
//  1. BitNet-b1.58-2B-4T shape (the synthetic model of
//     trix/convert/synthetic_bitnet.h, written on first use into --model-dir):
//     prompt processing (--prompt tokens, default 128) and decode (--decode
//     tokens, default 64) in tokens per second at 1 and 2 threads, per weight
//     format (TQ2_0, TQ1_0, I2_S), with the bytes each decoded token streams
//     and that traffic as a share of the DRAM read bandwidth measured in the
//     same run (bench/dram.cc), the load time (file in the page cache) and
//     the peak resident memory against the file's size, next to llama.cpp's
//     figures and TriX's targets. llama.cpp's figures come from the same run
//     when LLAMA_BENCH names a llama-bench binary (run on the same file with
//     -p/-n/-t as here); otherwise they are the same-machine-kind
//     measurements in DESIGN.md section 4 (llama.cpp c392e509, 2026-12-03),
//     labelled so.
//  2. stories260K (../shared) with the runtime shape vs the compile-time
//     trix::models::Stories260K: tokens per second, and the size of two
//     otherwise identical programs (stories_size.cc built both ways).
// Prints a table as it goes and writes everything as JSON (--json).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <malloc.h>

#include "bench.h"
#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/io/output_file.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/llama2c_checkpoint.h"
#include "trix/runtime/loader.h"
#include "trix/convert/synthetic_bitnet.h"
#include "trix/models/stories260k.h"

#ifndef TRIX_DEFAULT_SHARED_DIR
#define TRIX_DEFAULT_SHARED_DIR "../shared"
#endif

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Args {
  fs::path model_dir = ".";
  std::vector<std::string> types = {"tq2_0", "tq1_0", "i2_s"};
  std::vector<size_t> threads = {1, 2};
  int64_t prompt = 128;
  int64_t decode = 64;
  int64_t layers = 30;
  bool quick = false;  // the 2-layer model, a few tokens: a smoke run
  bool dram = true;
  fs::path json = "bench_model.json";
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int64_t to_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || x < 0) throw trix::Error(flag + " expects a count, got '" + v + "'");
  return x;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw trix::Error(f + " needs a value");
      return argv[++i];
    };
    if (f == "--model-dir") a.model_dir = value();
    else if (f == "--types") a.types = split(value());
    else if (f == "--threads") {
      a.threads.clear();
      for (const auto& t : split(value())) a.threads.push_back(static_cast<size_t>(to_int(f, t)));
    } else if (f == "--prompt") a.prompt = to_int(f, value());
    else if (f == "--decode") a.decode = to_int(f, value());
    else if (f == "--layers") a.layers = to_int(f, value());
    else if (f == "--quick") a.quick = true;
    else if (f == "--no-dram") a.dram = false;
    else if (f == "--json") a.json = value();
    else if (f == "-h" || f == "--help") {
      std::printf("usage: %s [--model-dir DIR] [--types tq2_0,tq1_0,i2_s] [--threads 1,2]\n"
                  "          [--prompt 128] [--decode 64] [--layers 30] [--quick] [--no-dram]\n"
                  "          [--json bench_model.json]\n", argv[0]);
      std::exit(0);
    } else throw trix::Error("unknown argument '" + f + "' (see --help)");
  }
  if (a.quick) {
    a.prompt = std::min<int64_t>(a.prompt, 16);
    a.decode = std::min<int64_t>(a.decode, 8);
  }
  if (a.prompt < 1 || a.threads.empty()) throw trix::Error("--prompt and --threads must be >= 1");
  return a;
}

// Tokens per second at 1 and 2 threads; 0 where none is given.
struct Reference {
  double prompt_1t, prompt_2t, decode_1t, decode_2t;
};
// llama.cpp c392e509 (llama-bench -p 128 -n 64) on this shape's TQ2_0 and
// TQ1_0 files, on a 2-core AVX-512 VM of the project's machine kind, one
// program after the other (DESIGN.md section 4, 2026-12-03): midpoints.
Reference llama_cpp_figures(trix::FormatId f) {
  if (f == trix::FormatId::TQ2_0) return {28.0, 53.0, 7.65, 13.95};
  if (f == trix::FormatId::TQ1_0) return {13.0, 26.5, 6.25, 11.75};
  return {0, 0, 0, 0};
}
// TriX's targets (issue 15): prompt tokens per second for TQ2_0 and TQ1_0;
// decode as a share of the DRAM roofline, 95% on 1 thread, 90% on 2.
constexpr Reference kTargets = {85.0, 160.0, 0.0, 0.0};
constexpr double kTargetPctOfDram[3] = {0.0, 95.0, 90.0};

// llama-bench's tokens per second for (prompt, decode) on `path` with
// `threads` threads, run now: {pp, tg}; {0, 0} when it fails.
std::pair<double, double> run_llama_bench(const std::string& exe, const fs::path& path, int64_t prompt,
                                          int64_t decode, size_t threads) {
  std::string cmd = "'";
  cmd += exe;
  cmd += "' -m '";
  cmd += path.string();
  cmd += "' -p " + std::to_string(prompt) + " -n " + std::to_string(decode) + " -t " +
         std::to_string(threads) + " -r 3 -o json 2>/dev/null";
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return {0, 0};
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  ::pclose(f);
  // One JSON object per test: "n_prompt": P, "n_gen": G, ... "avg_ts": X.
  const auto number_after = [&](const std::string& key, size_t from, size_t to) {
    const size_t k = out.find("\"" + key + "\":", from);
    return k < to ? std::strtod(out.c_str() + k + key.size() + 3, nullptr) : -1.0;
  };
  std::pair<double, double> r{0, 0};
  for (size_t b = out.find('{'); b != std::string::npos; b = out.find('{', b + 1)) {
    const size_t e = out.find('}', b);
    if (e == std::string::npos) break;
    const double pp = number_after("n_prompt", b, e), tg = number_after("n_gen", b, e);
    const double ts = number_after("avg_ts", b, e);
    if (pp > 0 && tg == 0) r.first = ts;
    if (pp == 0 && tg > 0) r.second = ts;
  }
  return r;
}

// `field` of /proc/self/status (VmHWM: peak resident memory since the last
// reset_peak_rss(); VmRSS: now), in bytes; -1 where /proc does not say.
int64_t status_bytes(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  int64_t kib = -1;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') kib = std::strtoll(line + n + 1, nullptr, 10);
  }
  std::fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}
// Starts a new peak (Linux: "5" to /proc/self/clear_refs resets VmHWM).
void reset_peak_rss() {
  if (std::FILE* f = std::fopen("/proc/self/clear_refs", "w")) {
    std::fputs("5", f);
    std::fclose(f);
  }
}

// Reads the whole file once, so that a timed load finds it in the page cache.
void read_through(const fs::path& p) {
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (!f) return;
  std::vector<char> buf(size_t{1} << 20);
  while (std::fread(buf.data(), 1, buf.size(), f) == buf.size()) {
  }
  std::fclose(f);
}

struct BitnetRow {
  std::string type;
  int64_t layers = 0;
  size_t threads = 0;
  int64_t prompt_tokens = 0, decode_tokens = 0;
  double prompt_tok_s = 0, decode_tok_s = 0;
  double bytes_per_token = 0, decode_gbps = 0, pct_of_dram = 0;
  double llama_prompt = 0, llama_decode = 0, target_prompt = 0, target_decode = 0, target_pct = 0;
  bool llama_same_run = false;  // llama.cpp's figures measured in this run (LLAMA_BENCH)
  double load_s = 0;            // load_model, file in the page cache (repack included)
  // Peak resident memory from before the load to the end of the row, and
  // what the process held before the load (the program, the thread pool).
  int64_t file_bytes = 0, peak_rss_bytes = 0, base_rss_bytes = 0;
  // Decode split: the output projection (vocab x dim, the tied Q6_K
  // token_embd here) timed alone, and everything else per token.
  double output_ms = 0, rest_ms = 0;
};

// Bytes one decoded token reads: every projection once, the norms, and the
// output projection (token_embd when tied); one embedding row is negligible.
double bytes_per_token(const trix::LoadedModel& m) {
  double b = 0;
  for (const auto& t : m.gguf.tensors()) {
    if (t.name != "token_embd.weight" || m.config.tied_output) b += static_cast<double>(t.nbytes);
  }
  return b;
}

BitnetRow run_bitnet(const trix::LoadedModel& m, const std::string& type, size_t threads,
                     const Args& a, const trix::bench::Context& ctx) {
  BitnetRow r;
  r.type = type;
  r.layers = m.config.n_layers;
  r.threads = threads;
  trix::ThreadPool pool(threads);
  const int64_t ctx_len = a.prompt + a.decode + 2;
  trix::Decoder<trix::RuntimeShape> dec(trix::RuntimeShape::from(m.config), m.prepared, pool,
                                        trix::KvType::F16, /*max_batch=*/std::max<int64_t>(a.prompt, 1),
                                        ctx_len);
  // Deterministic prompt ids below the special tokens.
  std::vector<int32_t> prompt(static_cast<size_t>(a.prompt));
  uint64_t s = 12345;
  for (auto& id : prompt) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((s >> 33) % static_cast<uint64_t>(std::min<int64_t>(m.config.vocab_size, 128000)));
  }
  dec.decode(prompt[0]);  // warm-up: page in the mapping, fill caches
  dec.reset();
  auto t0 = Clock::now();
  auto logits = dec.prefill(prompt);
  const double prompt_s = seconds_since(t0);
  int32_t next = trix::Sampler::argmax(logits);
  t0 = Clock::now();
  for (int64_t i = 0; i < a.decode; ++i) next = trix::Sampler::argmax(dec.decode(next));
  const double decode_s = seconds_since(t0);
  if (a.decode > 0) {
    // The output projection alone, on the last hidden state's shape: its
    // weights do not fit any cache, so each call streams them as decode does.
    std::vector<float> h(static_cast<size_t>(m.config.dim), 0.5f), out(static_cast<size_t>(m.config.vocab_size));
    trix::PreparedScratch scratch;
    std::vector<double> ts;
    for (int i = 0; i < 5; ++i) {
      const auto t1 = Clock::now();
      trix::matvec(m.prepared->output, h.data(), out.data(), pool, scratch);
      ts.push_back(seconds_since(t1));
    }
    r.output_ms = 1e3 * trix::bench::median(ts);
    r.rest_ms = 1e3 * decode_s / static_cast<double>(a.decode) - r.output_ms;
  }
  r.prompt_tokens = a.prompt;
  r.decode_tokens = a.decode;
  r.prompt_tok_s = static_cast<double>(a.prompt) / prompt_s;
  r.decode_tok_s = a.decode > 0 ? static_cast<double>(a.decode) / decode_s : 0;
  r.bytes_per_token = bytes_per_token(m);
  r.decode_gbps = r.bytes_per_token * r.decode_tok_s / 1e9;
  const double dram = threads < 3 ? ctx.dram_gbps[threads] : 0;
  r.pct_of_dram = dram > 0 ? 100.0 * r.decode_gbps / dram : 0;
  const trix::FormatId f = trix::find_format(type)->id;
  const Reference l = llama_cpp_figures(f);
  const bool full = m.config.n_layers == 30 && m.config.dim == 2560;
  r.target_pct = threads < 3 ? kTargetPctOfDram[threads] : 0;
  if (full) {
    r.llama_prompt = threads == 1 ? l.prompt_1t : threads == 2 ? l.prompt_2t : 0;
    r.llama_decode = threads == 1 ? l.decode_1t : threads == 2 ? l.decode_2t : 0;
    if (f == trix::FormatId::TQ2_0 || f == trix::FormatId::TQ1_0) {
      r.target_prompt = threads == 1 ? kTargets.prompt_1t : threads == 2 ? kTargets.prompt_2t : 0;
    }
  }
  return r;
}

struct StoriesRow {
  std::string shape;
  double prompt_tok_s = 0, decode_tok_s = 0;
  int64_t binary_bytes = -1;
};

template <class Shape>
StoriesRow run_stories(const Shape& shape, const std::shared_ptr<const trix::PreparedModel>& w,
                       const char* name) {
  trix::ThreadPool pool(1);
  std::vector<int32_t> prompt(128);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(3 + (i * 37) % 500);
  std::vector<double> pt, dt;
  for (int rep = 0; rep < 7; ++rep) {
    trix::Decoder<Shape> dec(shape, w, pool);
    auto t0 = Clock::now();
    auto l = dec.prefill(prompt);
    pt.push_back(seconds_since(t0));
    int32_t next = trix::Sampler::argmax(l);
    t0 = Clock::now();
    for (int i = 0; i < 256; ++i) next = trix::Sampler::argmax(dec.decode(next));
    dt.push_back(seconds_since(t0));
  }
  StoriesRow r;
  r.shape = name;
  r.prompt_tok_s = 128.0 / trix::bench::median(pt);
  r.decode_tok_s = 256.0 / trix::bench::median(dt);
  return r;
}

int64_t file_size_or(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? -1 : static_cast<int64_t>(n);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    trix::bench::Context ctx;
    ctx.opt.quick = a.quick;
    ctx.opt.threads = a.threads;
    const size_t max_threads = *std::max_element(a.threads.begin(), a.threads.end());
    trix::ThreadPool pool(max_threads);
    ctx.pool = &pool;
    if (a.dram) {
      trix::bench::HugeBuffer big(a.quick ? size_t{64} << 20 : size_t{1} << 30);
      ctx.big = &big;
      trix::bench::measure_dram(ctx, ctx.dram_start);
      ctx.big = nullptr;
      std::copy(ctx.dram_start, ctx.dram_start + 3, ctx.dram_gbps);
      for (size_t t : a.threads) {
        if (t < 3) std::printf("DRAM read bandwidth, %zu thread(s): %.1f GB/s\n", t, ctx.dram_gbps[t]);
      }
    }

    std::vector<BitnetRow> rows;
    std::printf("\nllama.cpp columns: %s\n", std::getenv("LLAMA_BENCH") && *std::getenv("LLAMA_BENCH")
                                                ? "llama-bench on the same file, this run (LLAMA_BENCH)"
                                                : "llama.cpp c392e509 on this machine kind, 2026-12-03 (DESIGN.md s4); "
                                                  "full 30-layer shape only");
    std::printf("%-6s %6s %3s | %14s %9s | %14s %9s | %8s %7s %6s | %9s %9s | %6s %8s %7s %5s\n", "type",
                "layers", "T", "prompt tok/s", "llama.cpp", "decode tok/s", "llama.cpp", "MB/token", "GB/s",
                "%DRAM", "output ms", "rest ms", "load s", "peak MB", "base MB", "xfile");
    for (const auto& type : a.types) {
      const trix::FormatInfo* f = trix::find_format(type);
      if (!f) throw trix::Error("--types: unknown format '" + type + "'");
      trix::SyntheticBitnetOptions o =
          a.quick ? trix::SyntheticBitnetOptions::small(f->id) : trix::SyntheticBitnetOptions{};
      o.weight_format = f->id;
      if (!a.quick) o.n_layers = a.layers;
      const fs::path path = a.model_dir / ("synthetic-bitnet-2b4t-" + type + (a.quick ? "-small" : "") +
                                           "-L" + std::to_string(o.n_layers) + ".gguf");
      if (!fs::exists(path)) {
        std::printf("writing %s ...\n", path.c_str());
        fs::create_directories(a.model_dir);
        trix::write_synthetic_bitnet(o, path, pool);  // temporary + rename (trix::OutputFile)
        ::malloc_trim(0);  // the writer's freed buffers must not count as the model's memory
      }
      read_through(path);
      reset_peak_rss();
      const int64_t base_rss = status_bytes("VmRSS");
      const auto t_load = Clock::now();
      const trix::LoadedModel m = trix::load_model(path);
      const double load_s = seconds_since(t_load);
      for (size_t t : a.threads) {
        BitnetRow r = run_bitnet(m, type, t, a, ctx);
        r.load_s = load_s;
        r.file_bytes = file_size_or(path);
        r.peak_rss_bytes = status_bytes("VmHWM");
        r.base_rss_bytes = base_rss;
        if (const char* lb = std::getenv("LLAMA_BENCH"); lb && *lb) {
          const auto [pp, tg] = run_llama_bench(lb, path, a.prompt, a.decode, t);
          r.llama_prompt = pp;
          r.llama_decode = tg;
          r.llama_same_run = true;
        }
        std::printf("%-6s %6lld %3zu | %14.2f %9.1f | %14.2f %9.1f | %8.1f %7.2f %6.1f | %9.2f %9.2f"
                    " | %6.2f %8.0f %7.0f %5.2f\n",
                    r.type.c_str(), static_cast<long long>(r.layers), r.threads, r.prompt_tok_s,
                    r.llama_prompt, r.decode_tok_s, r.llama_decode, r.bytes_per_token / 1e6,
                    r.decode_gbps, r.pct_of_dram, r.output_ms, r.rest_ms, r.load_s,
                    static_cast<double>(r.peak_rss_bytes) / 1e6, static_cast<double>(r.base_rss_bytes) / 1e6,
                    static_cast<double>(r.peak_rss_bytes) / static_cast<double>(r.file_bytes));
        std::fflush(stdout);
        rows.push_back(r);
      }
    }

    if (a.dram) {
      // Other processes can only lower a measurement: keep the higher one.
      trix::bench::HugeBuffer big(a.quick ? size_t{64} << 20 : size_t{1} << 30);
      ctx.big = &big;
      trix::bench::measure_dram(ctx, ctx.dram_end);
      ctx.big = nullptr;
      for (int t = 1; t < 3; ++t) ctx.dram_gbps[t] = std::max(ctx.dram_start[t], ctx.dram_end[t]);
      for (auto& r : rows) {
        const double d = r.threads < 3 ? ctx.dram_gbps[r.threads] : 0;
        r.pct_of_dram = d > 0 ? 100.0 * r.decode_gbps / d : 0;
      }
    }

    std::vector<StoriesRow> stories;
    const fs::path shared = [] {
      const char* env = std::getenv("TRIX_SHARED_DIR");
      return fs::path(env && *env ? env : TRIX_DEFAULT_SHARED_DIR);
    }();
    const fs::path ck_path = shared / "models/stories260K/stories260K.bin";
    if (fs::exists(ck_path)) {
      const trix::Llama2cCheckpoint ck = trix::Llama2cCheckpoint::load(ck_path.string());
      const fs::path self_dir = fs::read_symlink("/proc/self/exe").parent_path();
      const auto prepared = trix::prepare_model(ck.weights());
      StoriesRow rt = run_stories(trix::RuntimeShape::from(ck.config()), prepared, "runtime");
      StoriesRow ct = run_stories(trix::SpecShape<trix::models::Stories260K>{}, prepared,
                                  "compile-time");
      rt.binary_bytes = file_size_or(self_dir / "trix-stories-runtime");
      ct.binary_bytes = file_size_or(self_dir / "trix-stories-compile-time");
      stories = {rt, ct};
      std::printf("\nstories260K, 1 thread  | %12s | %12s | %12s\n", "prompt tok/s", "decode tok/s",
                  "binary bytes");
      for (const auto& s : stories) {
        std::printf("%-22s | %12.0f | %12.0f | %12lld\n", s.shape.c_str(), s.prompt_tok_s,
                    s.decode_tok_s, static_cast<long long>(s.binary_bytes));
      }
    } else {
      std::printf("\nstories260K not found at %s: skipped\n", ck_path.c_str());
    }

    trix::OutputFile js_file(a.json);
    std::ostream& js = js_file.stream();
    js << "{\n  \"dram_gbps\": {\"1\": " << ctx.dram_gbps[1] << ", \"2\": " << ctx.dram_gbps[2]
       << "},\n  \"dram_gbps_start\": {\"1\": " << ctx.dram_start[1] << ", \"2\": " << ctx.dram_start[2]
       << "},\n  \"dram_gbps_end\": {\"1\": " << ctx.dram_end[1] << ", \"2\": " << ctx.dram_end[2]
       << "},\n  \"bitnet_2b4t\": [\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      js << "    {\"type\": \"" << r.type << "\", \"layers\": " << r.layers
         << ", \"threads\": " << r.threads << ", \"prompt_tokens\": " << r.prompt_tokens
         << ", \"prompt_tok_s\": " << r.prompt_tok_s << ", \"decode_tokens\": " << r.decode_tokens
         << ", \"decode_tok_s\": " << r.decode_tok_s << ", \"bytes_per_token\": " << r.bytes_per_token
         << ", \"decode_gbps\": " << r.decode_gbps << ", \"pct_of_dram\": " << r.pct_of_dram
         << ", \"llama_cpp_prompt_tok_s\": " << r.llama_prompt
         << ", \"llama_cpp_decode_tok_s\": " << r.llama_decode
         << ", \"target_prompt_tok_s\": " << r.target_prompt
         << ", \"target_decode_tok_s\": " << r.target_decode
         << ", \"target_pct_of_dram\": " << r.target_pct << ", \"decode_output_ms\": " << r.output_ms
         << ", \"decode_rest_ms\": " << r.rest_ms << ", \"llama_cpp_same_run\": "
         << (r.llama_same_run ? "true" : "false") << ", \"load_s\": " << r.load_s
         << ", \"file_bytes\": " << r.file_bytes << ", \"peak_rss_bytes\": " << r.peak_rss_bytes
         << ", \"rss_before_load_bytes\": " << r.base_rss_bytes << "}"
         << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    js << "  ],\n  \"stories260k\": [\n";
    for (size_t i = 0; i < stories.size(); ++i) {
      const auto& s = stories[i];
      js << "    {\"shape\": \"" << s.shape << "\", \"threads\": 1, \"prompt_tokens\": 128"
         << ", \"prompt_tok_s\": " << s.prompt_tok_s << ", \"decode_tokens\": 256"
         << ", \"decode_tok_s\": " << s.decode_tok_s << ", \"binary_bytes\": " << s.binary_bytes
         << "}" << (i + 1 < stories.size() ? "," : "") << "\n";
    }
    js << "  ]\n}\n";
    js_file.commit();
    std::printf("\nJSON: %s\n", a.json.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
