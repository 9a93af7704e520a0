// serve_demo: the serving API (trix/serve/engine.h) on the continuous-
// batching engine, in one page.
//
//   serve_demo -m model.gguf [--threads N]
//
// Submits four requests at once: two greedy ones of different priority,
// one with n = 2 sampled continuations, and one that is cancelled after its
// third token. Each event is printed as it arrives ("[request.index] piece"),
// then the engine's counters. Errors print one line and exit non-zero.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/loader.h"
#include "trix/serve/batch_engine.h"

namespace {

const char* finish_name(trix::serve::FinishReason f) {
  switch (f) {
    case trix::serve::FinishReason::None: return "";
    case trix::serve::FinishReason::Length: return "length";
    case trix::serve::FinishReason::Stop: return "stop";
    case trix::serve::FinishReason::ContextFull: return "context full";
    case trix::serve::FinishReason::Cancelled: return "cancelled";
    case trix::serve::FinishReason::Error: return "error";
  }
  return "?";
}

int run(const std::string& model_path, size_t threads) {
  const trix::LoadedModel m = trix::load_model(model_path);
  trix::ThreadPool pool(threads);
  trix::serve::BatchEngineOptions opt;
  opt.context_length = std::min<int64_t>(m.config.context_length, 256);
  opt.max_running = 8;
  trix::serve::BatchEngine<trix::RuntimeShape> engine(trix::RuntimeShape::from(m.config), m.prepared, pool, opt);

  std::mutex print_mu;  // sinks run on the engine thread; main prints too
  const auto print_sink = [&](const std::string& label) {
    return [&, label](const trix::serve::TokenEvent& ev) {
      std::lock_guard lock(print_mu);
      std::string piece;
      if (ev.token >= 0) {
        trix::DecodeOptions d;
        d.strip_space_prefix = false;
        piece = m.tokenizer.decode(std::span<const int32_t>(&ev.token, 1), d);
      }
      std::printf("[%s.%d] %s%s%s\n", label.c_str(), ev.index, piece.c_str(),
                  ev.finish != trix::serve::FinishReason::None ? "  <" : "", finish_name(ev.finish));
      return true;
    };
  };
  const auto request = [&](const std::string& text, int64_t n_new) {
    trix::serve::Request r;
    r.prompt = m.tokenizer.encode(text, /*add_special=*/true);
    if (r.prompt.empty() || r.prompt.front() != m.tokenizer.bos()) r.prompt.insert(r.prompt.begin(), m.tokenizer.bos());
    r.max_new_tokens = n_new;
    r.stop_ids = m.tokenizer.eog_ids();
    if (m.tokenizer.eos() >= 0) r.stop_ids.push_back(m.tokenizer.eos());
    return r;
  };

  trix::serve::Request low = request("Once upon a time", 12);
  trix::serve::Request high = request("The little dog", 12);
  high.priority = 1;  // scheduled ahead of `low` when both wait
  trix::serve::Request two = request("Lily saw a", 8);
  two.n = 2;
  two.sampling.temperature = 0.8f;
  two.sampling.seed = 7;
  two.top_logprobs = 2;
  engine.submit(low, print_sink("low"));
  engine.submit(high, print_sink("high"));
  engine.submit(two, print_sink("two"));
  // Cancelled from its own sink after three tokens: a cancel from inside a
  // sink is allowed; the remaining index gets one Cancelled event.
  int seen = 0;
  trix::serve::RequestId doomed = 0;
  auto doomed_print = print_sink("doomed");
  doomed = engine.submit(request("Tim had a ball", 50), [&](const trix::serve::TokenEvent& ev) {
    doomed_print(ev);
    if (++seen == 3) engine.cancel(doomed);
    return true;
  });
  engine.wait_idle();
  const trix::serve::EngineStats st = engine.stats();
  std::printf("requests %llu, prompt tokens %llu, generated %llu, preemptions %llu, kv blocks %lld/%lld in use\n",
              static_cast<unsigned long long>(st.requests_total),
              static_cast<unsigned long long>(st.prompt_tokens_total),
              static_cast<unsigned long long>(st.generated_tokens_total),
              static_cast<unsigned long long>(st.preemptions_total), static_cast<long long>(st.kv_blocks_used),
              static_cast<long long>(st.kv_blocks_total));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  size_t threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "-m" || a == "--threads") && i + 1 < argc) {
      if (a == "-m") model = argv[++i];
      else threads = static_cast<size_t>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: serve_demo -m model.gguf [--threads N]\n");
      return 2;
    }
  }
  if (model.empty()) {
    std::fprintf(stderr, "usage: serve_demo -m model.gguf [--threads N]\n");
    return 2;
  }
  try {
    return run(model, threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
