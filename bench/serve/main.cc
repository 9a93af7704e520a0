// trix-bench-serve: aggregate decode tokens/s of the continuous-batching
// engine (trix/serve/batch_engine.h) for 1, 2, 4, 8, 16 concurrent
// sequences at 1 and 2 threads, on the synthetic BitNet-b1.58-2B-4T shape
// (trix/convert/synthetic_bitnet.h, TQ2_0; written into --model-dir on
// first use, or --model FILE).
//
// Each case submits N requests at once (a --prompt-token prompt each,
// different per request, greedy, --decode new tokens) and waits until their
// first tokens are out (every prompt has run); the decode rate is the tokens
// generated after that point divided by the time until the last request
// ends. Every step then decodes all N sequences together, so the weights
// stream once per step for all of them. Prints a table and writes JSON.
//
//   trix-bench-serve [--model FILE | --model-dir DIR] [--sequences 1,2,4,8,16]
//                    [--threads 1,2] [--prompt 16] [--decode 32] [--json F] [--quick]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "trix/convert/synthetic_bitnet.h"
#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/loader.h"
#include "trix/serve/batch_engine.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Args {
  fs::path model;
  fs::path model_dir = ".";
  std::vector<int64_t> sequences = {1, 2, 4, 8, 16};
  std::vector<int64_t> threads = {1, 2};
  int64_t prompt = 16;
  int64_t decode = 32;
  bool quick = false;
  fs::path json = "bench_serve.json";
};

std::vector<int64_t> int_list(const std::string& flag, const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0 || v > 4096) {
      throw trix::Error(flag + " expects positive integers (at most 4096) separated by commas, got '" + s + "'");
    }
    out.push_back(v);
  }
  if (out.empty()) throw trix::Error(flag + " expects at least one value");
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw trix::Error(f + " needs a value");
      return argv[++i];
    };
    if (f == "--model") a.model = value();
    else if (f == "--model-dir") a.model_dir = value();
    else if (f == "--sequences") a.sequences = int_list(f, value());
    else if (f == "--threads") a.threads = int_list(f, value());
    else if (f == "--prompt") a.prompt = int_list(f, value()).at(0);
    else if (f == "--decode") a.decode = int_list(f, value()).at(0);
    else if (f == "--json") a.json = value();
    else if (f == "--quick") a.quick = true;
    else throw trix::Error("unknown argument '" + f + "'");
  }
  if (a.quick) {
    a.sequences = {1, 4};
    a.threads = {1};
    a.prompt = 4;
    a.decode = 4;
  }
  return a;
}

// The synthetic TQ2_0 file: 30 layers of the 2B-4T shape, or 2 with --quick.
fs::path model_file(const Args& a) {
  if (!a.model.empty()) return a.model;
  trix::SyntheticBitnetOptions o;
  o.weight_format = trix::FormatId::TQ2_0;
  if (a.quick) o.n_layers = 2;
  const fs::path p = a.model_dir / ("synthetic-bitnet-2b4t-tq2_0-L" + std::to_string(o.n_layers) + ".gguf");
  if (!fs::exists(p)) {
    fs::create_directories(a.model_dir);
    std::fprintf(stderr, "writing %s\n", p.c_str());
    trix::ThreadPool pool(2);
    trix::write_synthetic_bitnet(o, p, pool);
  }
  return p;
}

struct Result {
  int64_t sequences = 0, threads = 0, generated = 0;
  double seconds = 0.0, tokens_per_s = 0.0;
};

Result run_case(const trix::LoadedModel& m, const Args& a, int64_t n_seq, int64_t threads) {
  const auto shape = trix::RuntimeShape::from(m.config);
  trix::ThreadPool pool(static_cast<size_t>(threads));
  trix::serve::BatchEngineOptions opt;
  opt.context_length = a.prompt + a.decode + 1;
  opt.max_running = n_seq;
  opt.max_batch_tokens = std::max<int64_t>(64, n_seq);
  opt.prefix_cache = false;
  trix::serve::BatchEngine<trix::RuntimeShape> engine(shape, m.prepared, pool, opt);
  // Sinks run on the engine thread: no lock needed for these counters.
  std::vector<int64_t> count(static_cast<size_t>(n_seq), 0);
  int64_t started = 0, generated = 0, generated_at_start = 0;
  Clock::time_point decode_start = Clock::now(), end = decode_start;
  for (int64_t s = 0; s < n_seq; ++s) {
    trix::serve::Request r;
    r.prompt.push_back(m.tokenizer.bos() >= 0 ? m.tokenizer.bos() : 0);
    for (int64_t i = 1; i < a.prompt; ++i) {
      r.prompt.push_back(static_cast<int32_t>((s * 7919 + i * 104729) % shape.vocab_size));
    }
    r.max_new_tokens = a.decode;
    engine.submit(r, [&, s](const trix::serve::TokenEvent& ev) {
      if (ev.token >= 0) {
        ++generated;
        if (++count[static_cast<size_t>(s)] == 1 && ++started == n_seq) {
          decode_start = Clock::now();
          generated_at_start = generated;
        }
      }
      if (ev.finish != trix::serve::FinishReason::None) end = Clock::now();
      return true;
    });
  }
  engine.wait_idle();
  Result r;
  r.sequences = n_seq;
  r.threads = threads;
  r.generated = generated - generated_at_start;
  r.seconds = std::chrono::duration<double>(end - decode_start).count();
  r.tokens_per_s = r.seconds > 0 ? static_cast<double>(r.generated) / r.seconds : 0.0;
  return r;
}

int run(const Args& a) {
  const fs::path path = model_file(a);
  const trix::LoadedModel m = trix::load_model(path);
  std::printf("model %s: %lld layers, dim %lld; prompt %lld, decode %lld tokens per sequence\n", path.c_str(),
              static_cast<long long>(m.config.n_layers), static_cast<long long>(m.config.dim),
              static_cast<long long>(a.prompt), static_cast<long long>(a.decode));
  std::printf("%8s %8s %10s %10s %12s %10s\n", "threads", "seqs", "tokens", "seconds", "tok/s", "x single");
  std::vector<Result> results;
  for (int64_t t : a.threads) {
    double single = 0.0;
    for (int64_t n : a.sequences) {
      const Result r = run_case(m, a, n, t);
      if (n == 1) single = r.tokens_per_s;
      std::printf("%8lld %8lld %10lld %10.3f %12.2f %10s\n", static_cast<long long>(t), static_cast<long long>(n),
                  static_cast<long long>(r.generated), r.seconds, r.tokens_per_s,
                  single > 0 ? std::to_string(r.tokens_per_s / single).substr(0, 5).c_str() : "-");
      std::fflush(stdout);
      results.push_back(r);
    }
  }
  std::ofstream out(a.json);
  if (!out) throw trix::Error(a.json.string() + ": cannot write the JSON result");
  out << "{\n  \"model\": \"" << path.string() << "\",\n  \"prompt_tokens\": " << a.prompt
      << ",\n  \"decode_tokens\": " << a.decode << ",\n  \"cases\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    out << "    {\"threads\": " << r.threads << ", \"sequences\": " << r.sequences
        << ", \"decode_tokens\": " << r.generated << ", \"seconds\": " << r.seconds
        << ", \"tokens_per_s\": " << r.tokens_per_s << "}" << (i + 1 < results.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
  if (!out) throw trix::Error(a.json.string() + ": write failed");
  std::printf("wrote %s\n", a.json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
