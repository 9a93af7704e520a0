// generate --parallel N: the first N lines of --prompt-file as N requests on
// the continuous-batching engine (trix/serve/batch_engine.h), decoded
// together; prints each completion when it ends, then the aggregate rate.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/loader.h"
#include "trix/serve/batch_engine.h"
#include "generate_args.h"

namespace trix::generate_cli {

// The first n non-empty lines of `path`. Throws trix::Error when the file
// cannot be read or holds fewer.
inline std::vector<std::string> read_prompts(const std::string& path, int64_t n) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the prompt file");
  std::vector<std::string> out;
  std::string line;
  while (static_cast<int64_t>(out.size()) < n && std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  if (static_cast<int64_t>(out.size()) < n) {
    throw Error(path + ": --parallel " + std::to_string(n) + " needs " + std::to_string(n) +
                " non-empty lines, the file has " + std::to_string(out.size()));
  }
  return out;
}

// Runs the prompts of a.prompt_file together; `encode` turns a line into ids
// (BOS first).
template <class Encode>
int run_parallel(const Args& a, const LoadedModel& m, const Encode& encode) {
  const std::vector<std::string> lines = read_prompts(a.prompt_file, a.parallel);
  const RuntimeShape shape = RuntimeShape::from(m.config);
  serve::BatchEngineOptions opt;
  int64_t longest = 0;
  std::vector<std::vector<int32_t>> prompts;
  for (const std::string& l : lines) {
    prompts.push_back(encode(l));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(prompts.back().size()));
  }
  opt.context_length = a.ctx > 0 ? a.ctx : std::min(m.config.context_length, longest + std::max<int64_t>(a.n_predict, 1));
  opt.max_running = a.parallel;
  ThreadPool pool(a.threads);
  serve::BatchEngine<RuntimeShape> engine(shape, m.prepared, pool, opt);
  std::mutex mu;
  std::vector<std::vector<int32_t>> out(lines.size());
  std::vector<int32_t> stops = m.tokenizer.eog_ids();
  if (m.tokenizer.eos() >= 0) stops.push_back(m.tokenizer.eos());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < lines.size(); ++i) {
    serve::Request r;
    r.prompt = prompts[i];
    r.sampling = a.sampling;
    r.max_new_tokens = std::max<int64_t>(a.n_predict, 1);
    r.stop_ids = stops;
    engine.submit(std::move(r), [&, i](const serve::TokenEvent& ev) {
      std::lock_guard lock(mu);
      if (ev.token >= 0) out[i].push_back(ev.token);
      if (ev.finish != serve::FinishReason::None) {
        DecodeOptions d;
        d.strip_space_prefix = false;  // a continuation: its leading space is real
        const std::string text = m.tokenizer.decode(out[i], d);
        std::printf("[%zu] %s%s\n", i, lines[i].c_str(), text.c_str());
        std::fflush(stdout);
      }
      return true;
    });
  }
  engine.wait_idle();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const serve::EngineStats st = engine.stats();
  std::printf("%zu prompts: %llu prompt tokens, %llu generated in %.2f s: %.1f tok/s generated (all together)\n",
              lines.size(), static_cast<unsigned long long>(st.prompt_tokens_total),
              static_cast<unsigned long long>(st.generated_tokens_total), s,
              s > 0 ? static_cast<double>(st.generated_tokens_total) / s : 0.0);
  return 0;
}

}  // namespace trix::generate_cli
