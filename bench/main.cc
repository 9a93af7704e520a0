// trix-bench: kernel throughput as a fraction of the DRAM bandwidth measured
// in the same run, against a naive baseline compiled into the same binary and
// against llama.cpp's published figures. Human table on stdout, one JSON
// record per case with --json FILE.
//
//   trix-bench [--json FILE] [--filter SUBSTR] [--threads 1,2] [--quick]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "bench.h"
#include "trix/io/output_file.h"
#include "trix/runtime/matmul.h"

namespace trix::bench {

float naive_dot_f32(const float* a, const float* b, size_t n) {
  return ref::dot_f32(a, b, static_cast<int64_t>(n));
}

namespace {

std::string read_first_line_with(const char* path, const char* key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) return line;
      size_t b = colon + 1;
      while (b < line.size() && line[b] == ' ') ++b;
      return line.substr(b);
    }
  }
  return "";
}

std::string file_contents(const char* path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += c;
    }
  }
  return o;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void write_json(const Context& ctx, const std::string& path) {
  std::ostringstream o;
  o << "{\n";
  o << "  \"dram_read_gbps_1t\": " << num(ctx.dram_gbps[1]) << ",\n";
  o << "  \"dram_read_gbps_2t\": " << num(ctx.dram_gbps[2]) << ",\n";
  o << "  \"dram_read_gbps_measurements\": {\"start_1t\": " << num(ctx.dram_start[1])
    << ", \"start_2t\": " << num(ctx.dram_start[2]) << ", \"end_1t\": " << num(ctx.dram_end[1])
    << ", \"end_2t\": " << num(ctx.dram_end[2]) << "},\n";
  o << "  \"proc_loadavg_at_end\": \"" << json_escape(file_contents("/proc/loadavg")) << "\",\n";
  o << "  \"machine\": {\"cpu\": \"" << json_escape(read_first_line_with("/proc/cpuinfo", "model name"))
    << "\", \"logical_cpus\": " << std::thread::hardware_concurrency() << ", \"highway_target\": \""
    << json_escape(ctx.best_target) << "\", \"thp\": \""
    << json_escape(file_contents("/sys/kernel/mm/transparent_hugepage/enabled"))
    << "\", \"compiler\": \"" << json_escape(__VERSION__) << "\"},\n";
  o << "  \"options\": {\"quick\": " << (ctx.opt.quick ? "true" : "false")
    << ", \"cold_bytes\": " << ctx.opt.cold_bytes << ", \"filter\": \"" << json_escape(ctx.opt.filter)
    << "\"},\n";
  o << "  \"external_reference\": \"llama_cpp_us: llama.cpp (ggml d99724f2) figures from "
       "DESIGN.md section 4, measured on another machine of this kind, not in this run\",\n";
  o << "  \"cases\": [";
  for (size_t i = 0; i < ctx.records.size(); ++i) {
    const Record& r = ctx.records[i];
    o << (i ? ",\n" : "\n") << "    {\"name\": \"" << json_escape(r.name) << "\", \"op\": \"" << r.op
      << "\", \"weight_format\": \"" << r.weight_format << "\", \"layout\": \"" << r.layout
      << "\", \"act_format\": \"" << r.act_format
      << "\", \"impl\": \"" << json_escape(r.impl) << "\", \"M\": " << r.m << ", \"K\": " << r.k
      << ", \"N\": " << r.n << ", \"threads\": " << r.threads << ", \"cache\": \"" << r.cache
      << "\", \"us_per_call\": " << num(r.us_per_call) << ", \"us_min\": " << num(r.us_min)
      << ", \"reps\": " << r.reps
      << ", \"weight_bytes\": " << num(r.weight_bytes) << ", \"weight_gbps\": " << num(r.weight_gbps)
      << ", \"pct_of_dram\": " << num(r.pct_of_dram) << ", \"gops\": " << num(r.gops)
      << ", \"naive_us\": " << num(r.naive_us) << ", \"speedup_vs_naive\": " << num(r.speedup_vs_naive)
      << ", \"llama_cpp_us\": " << num(r.llama_cpp_us) << ", \"vs_llama_cpp\": " << num(r.vs_llama_cpp)
      << "}";
  }
  o << "\n  ]\n}\n";
  OutputFile out(path);
  out.write(o.str().data(), o.str().size());
  out.commit();
}

void print_header() {
  std::printf("%-44s %4s %5s %10s %8s %7s %8s %9s %10s\n", "case", "thr", "cache", "us/call", "GB/s",
              "%DRAM", "GOPS", "x naive", "x llama.cpp");
}

std::vector<size_t> parse_threads(const std::string& s) {
  std::vector<size_t> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    const long v = std::strtol(part.c_str(), nullptr, 10);
    if (v < 1 || v > 256) throw Error("trix-bench: bad --threads entry '" + part + "'");
    out.push_back(static_cast<size_t>(v));
  }
  if (out.empty()) throw Error("trix-bench: --threads needs a list such as 1,2");
  return out;
}

int run(int argc, char** argv) {
  Context ctx;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw Error("trix-bench: " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--json") {
      json_path = value();
    } else if (a == "--filter") {
      ctx.opt.filter = value();
    } else if (a == "--threads") {
      ctx.opt.threads = parse_threads(value());
    } else if (a == "--quick") {
      ctx.opt.quick = true;
    } else if (a == "-h" || a == "--help") {
      std::printf("usage: trix-bench [--json FILE] [--filter SUBSTR] [--threads 1,2] [--quick]\n"
                  "  --quick: few repetitions and a 16 MiB cold set (a smoke run, not a measurement)\n");
      return 0;
    } else {
      throw Error("trix-bench: unknown argument '" + a + "' (try --help)");
    }
  }
  if (ctx.opt.quick) {
    ctx.opt.cold_bytes = size_t{16} << 20;
    ctx.opt.seconds_per_case = 0.01;
  }
  size_t max_threads = 2;
  for (size_t t : ctx.opt.threads) max_threads = std::max(max_threads, t);
  ThreadPool pool(max_threads);
  HugeBuffer big(ctx.opt.cold_bytes);
  ctx.pool = &pool;
  ctx.big = &big;
  ctx.best_target = best_target_name();

  measure_dram(ctx, ctx.dram_start);
  for (size_t t : {1, 2}) ctx.dram_gbps[t] = ctx.dram_start[t];
  std::printf("trix-bench: DRAM read %.1f GB/s (1 thread), %.1f GB/s (2 threads) over %zu MiB%s; "
              "Highway target %s\n",
              ctx.dram_gbps[1], ctx.dram_gbps[2], ctx.opt.cold_bytes >> 20,
              ctx.opt.quick ? " (--quick: fits in cache, not DRAM)" : "", ctx.best_target.c_str());
  std::printf("x llama.cpp: llama.cpp's published us/call (DESIGN.md section 4, another machine of "
              "this kind) / ours\n");
  print_header();
  std::fflush(stdout);
  run_gemv_cases(ctx);
  run_ops_cases(ctx);
  // The %DRAM column above used the first measurement; the JSON uses the
  // higher of the two.
  measure_dram(ctx, ctx.dram_end);
  for (size_t t : {1, 2}) ctx.dram_gbps[t] = std::max(ctx.dram_start[t], ctx.dram_end[t]);
  for (Record& r : ctx.records) {
    if (r.threads < 3 && ctx.dram_gbps[r.threads] > 0) r.pct_of_dram = 100.0 * r.weight_gbps / ctx.dram_gbps[r.threads];
  }
  std::printf("trix-bench: DRAM read again after the cases: %.1f GB/s (1 thread), %.1f GB/s (2 threads); "
              "JSON pct_of_dram uses the higher measurement (%.1f / %.1f)\n",
              ctx.dram_end[1], ctx.dram_end[2], ctx.dram_gbps[1], ctx.dram_gbps[2]);
  if (!json_path.empty()) write_json(ctx, json_path);
  return 0;
}

}  // namespace

void print_record(const Context&, const Record& r) {
  char llama[16] = "-";
  if (r.vs_llama_cpp > 0) std::snprintf(llama, sizeof llama, "%.2f", r.vs_llama_cpp);
  char naive[16] = "-";
  if (r.speedup_vs_naive > 0) std::snprintf(naive, sizeof naive, "%.1f", r.speedup_vs_naive);
  if (r.weight_bytes > 0) {
    std::printf("%-44s %4zu %5s %10.1f %8.1f %7.1f %8.1f %9s %10s\n", r.name.c_str(), r.threads,
                r.cache.c_str(), r.us_per_call, r.weight_gbps, r.pct_of_dram, r.gops, naive, llama);
  } else {
    std::printf("%-44s %4zu %5s %10.2f %8s %7s %8s %9s %10s\n", r.name.c_str(), r.threads,
                r.cache.c_str(), r.us_per_call, "-", "-", "-", naive, llama);
  }
  std::fflush(stdout);
}

}  // namespace trix::bench

int main(int argc, char** argv) {
  try {
    return trix::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
