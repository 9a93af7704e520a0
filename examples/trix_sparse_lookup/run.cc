// trix-run-sparse-lookup: loads a trix_sparse_lookup GGUF and continues a
// sequence of token ids greedily (the reference models are character level
// and their vocabulary is the training script's, so ids in, ids out).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/trix_lm.h"
#include "trix/runtime/trix_lm_loader.h"

namespace {

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s model.gguf [-p ID,ID,...] [-n N] [-t THREADS]\n"
               "  -p  prompt token ids (default: 0)\n"
               "  -n  tokens to generate greedily (default 32)\n"
               "  -t  threads (default: all)\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path, prompt = "0";
  long n_gen = 32, threads = 0;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      const auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw trix::Error(std::string(a) + " needs a value");
        return argv[++i];
      };
      if (a == "-p") {
        prompt = value();
      } else if (a == "-n") {
        n_gen = std::stol(value());
      } else if (a == "-t") {
        threads = std::stol(value());
      } else if (a == "-h" || a == "--help") {
        usage(argv[0]);
        return 0;
      } else if (path.empty()) {
        path = a;
      } else {
        throw trix::Error("unexpected argument '" + std::string(a) + "'");
      }
    }
    if (path.empty() || n_gen < 0 || threads < 0) {
      usage(argv[0]);
      return 2;
    }
    std::vector<int32_t> tokens;
    size_t start = 0;
    while (start <= prompt.size()) {
      const size_t comma = prompt.find(',', start);
      const std::string id = prompt.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      size_t used = 0;
      int v = -1;
      try {
        v = std::stoi(id, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != id.size() || v < 0) throw trix::Error("-p: '" + id + "' is not a token id");
      tokens.push_back(v);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    const trix::LoadedTrixLm model = trix::load_trix_lm(path);
    const trix::TrixLmConfig& c = model.config;
    trix::ThreadPool pool(static_cast<size_t>(threads));
    trix::TrixLmState state(c, 64, pool.num_threads());
    const auto shape = trix::TrixLmRuntimeShape::from(c);
    const auto t0 = std::chrono::steady_clock::now();
    auto logits = trix::trix_lm_forward(shape, *model.prepared, tokens, 0, state, pool);
    const auto t1 = std::chrono::steady_clock::now();
    std::vector<int32_t> out;
    auto pos = static_cast<int64_t>(tokens.size());
    for (long i = 0; i < n_gen && pos < c.context_length; ++i, ++pos) {
      int32_t best = 0;
      for (int32_t v = 1; v < static_cast<int32_t>(logits.size()); ++v) {
        if (logits[static_cast<size_t>(v)] > logits[static_cast<size_t>(best)]) best = v;
      }
      out.push_back(best);
      const int32_t next[] = {best};
      logits = trix::trix_lm_forward(shape, *model.prepared, next, pos, state, pool);
    }
    const auto t2 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? "," : "", out[i]);
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(t2 - t1).count();
    std::printf("\nprefill %zu tokens: %.1f tok/s; decode %zu tokens: %.1f tok/s (%zu threads)\n", tokens.size(),
                static_cast<double>(tokens.size()) / prefill_s, out.size(),
                out.empty() ? 0.0 : static_cast<double>(out.size()) / decode_s, pool.num_threads());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
