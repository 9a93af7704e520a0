// libFuzzer target for generate's command line (examples/generate/
// generate_args.h): the input is split into argv at NUL bytes. Parsing must
// either succeed with every value in its documented range or throw
// UsageError; nothing else (no other exception, overflow or UB).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "generate_args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace cli = trix::generate_cli;
  std::vector<std::string> words{"generate"};
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      words.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(data[i]);
    }
  }
  if (size > 0) words.push_back(cur);
  std::vector<const char*> argv;
  for (const auto& w : words) argv.push_back(w.c_str());
  try {
    const cli::Args a = cli::parse_generate_args(static_cast<int>(argv.size()), argv.data());
    const bool ok = a.n_predict >= 0 && a.n_predict <= cli::kMaxTokens && a.ctx >= 0 &&
                    a.ctx <= cli::kMaxTokens && a.threads <= static_cast<size_t>(cli::kMaxThreads) &&
                    a.sampling.temperature >= 0.0f &&
                    a.sampling.temperature <= static_cast<float>(cli::kMaxTemperature) &&
                    a.sampling.top_p > 0.0f && a.sampling.top_p <= 1.0f && a.sampling.top_k >= 0 &&
                    a.sampling.min_p >= 0.0f && a.sampling.min_p <= 1.0f &&
                    a.sampling.repetition_window >= 0;
    if (!ok) std::abort();  // a value escaped its range check
  } catch (const cli::UsageError&) {
  }
  return 0;
}
