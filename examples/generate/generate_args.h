// The command line of the generate tool, parsed strictly: every numeric flag
// is checked against its range (no wrap-around, no silent truncation, no
// inf/nan), so that the tool either runs with what was asked or exits 2 with
// one line naming the flag, the range and the text given. Header-only and
// free of I/O so that tests and the fuzzer (tests/fuzz/fuzz_generate_args.cc)
// can drive it.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

#include "trix/runtime/kv_cache.h"
#include "trix/runtime/sampler.h"

namespace trix::generate_cli {

// Upper bound for -n and --ctx: far above any model's context, and small
// enough that prompt tokens + n can never overflow int64.
inline constexpr int64_t kMaxTokens = int64_t{1} << 24;
inline constexpr int64_t kMaxThreads = 1024;
inline constexpr int64_t kMaxParallel = 4096;
inline constexpr double kMaxTemperature = 100.0;
inline constexpr double kMaxRepetitionPenalty = 100.0;

struct Args {
  std::string model;        // empty: the stories260K demo
  std::string prompt;
  int64_t n_predict = 64;   // [0, kMaxTokens]
  int64_t ctx = 0;          // run context; 0: min(model context, prompt + n)
  SamplerConfig sampling;
  size_t threads = 0;       // 0: all hardware threads
  KvType kv_type = KvType::F16;  // --kv-type: f16 (llama.cpp's default) or f32
  // --parallel N: the first N lines of --prompt-file run as N requests at
  // once on the batching engine (trix/serve/batch_engine.h); 0: one prompt (-p).
  int64_t parallel = 0;     // [0, kMaxParallel]
  std::string prompt_file;  // --prompt-file: one prompt per line
  bool help = false;        // -h / --help: print usage, exit 0
};

// A usage problem: one line (without "error: "); the tool prints it, then the
// usage text, and exits 2.
struct UsageError {
  std::string what;
};

inline const char* usage_text() {
  return "usage: generate [-m model.gguf] [-p \"prompt\"] [-n 64] [--ctx N] [--temp T] [--seed S]\n"
         "          [--threads N] [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R]\n"
         "          [--repeat-last-n N] [--kv-type f16|f32] [--parallel N --prompt-file FILE]\n"
         "Without -m, tells the stories260K story from $TRIX_SHARED_DIR/models/stories260K.\n";
}

namespace detail {

// A decimal integer in [lo, hi]: optional '-', digits, nothing else (no
// spaces, '+', hex or trailing text).
inline int64_t parse_int(std::string_view flag, std::string_view text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc() || end != last || v < lo || v > hi) {
    throw UsageError{std::string(flag) + " expects an integer in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got '" + std::string(text) + "'"};
  }
  return v;
}

inline uint64_t parse_u64(std::string_view flag, std::string_view text) {
  uint64_t v = 0;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(text.data(), last, v);
  if (text.empty() || ec != std::errc() || end != last) {
    throw UsageError{std::string(flag) + " expects an integer in [0, " +
                     std::to_string(std::numeric_limits<uint64_t>::max()) + "], got '" +
                     std::string(text) + "'"};
  }
  return v;
}

// A finite decimal number in the interval lo..hi; open_lo excludes lo.
inline float parse_real(std::string_view flag, std::string_view text, double lo, double hi,
                        bool open_lo = false) {
  double v = 0;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(text.data(), last, v, std::chars_format::general);
  const bool in_range = std::isfinite(v) && (open_lo ? v > lo : v >= lo) && v <= hi;
  if (text.empty() || ec != std::errc() || end != last || !in_range) {
    const auto num = [](double x) {
      std::string s = std::to_string(x);
      s.erase(s.find_last_not_of('0') + 1);
      if (!s.empty() && s.back() == '.') s.pop_back();
      return s;
    };
    throw UsageError{std::string(flag) + " expects a number in " + (open_lo ? "(" : "[") + num(lo) +
                     ", " + num(hi) + "], got '" + std::string(text) + "'"};
  }
  return static_cast<float>(v);
}

}  // namespace detail

// Parses argv[1..argc). Throws UsageError on an unknown flag, a missing or
// malformed value, or a value out of range.
inline Args parse_generate_args(int argc, const char* const* argv) {
  using detail::parse_int;
  using detail::parse_real;
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
      return argv[++i];
    };
    if (flag == "-m" || flag == "--model") {
      a.model = value();
      if (a.model.empty()) throw UsageError{flag + " expects a model file name, got ''"};
    } else if (flag == "-p" || flag == "--prompt") {
      a.prompt = value();
    } else if (flag == "-n" || flag == "--n-predict") {
      a.n_predict = parse_int(flag, value(), 0, kMaxTokens);
    } else if (flag == "--ctx") {
      a.ctx = parse_int(flag, value(), 1, kMaxTokens);
    } else if (flag == "--temp") {
      a.sampling.temperature = parse_real(flag, value(), 0.0, kMaxTemperature);
    } else if (flag == "--seed") {
      a.sampling.seed = detail::parse_u64(flag, value());
    } else if (flag == "--threads" || flag == "-t") {
      a.threads = static_cast<size_t>(parse_int(flag, value(), 1, kMaxThreads));
    } else if (flag == "--top-k") {
      a.sampling.top_k = static_cast<int32_t>(parse_int(flag, value(), 0, kInt32Max));
    } else if (flag == "--top-p") {
      a.sampling.top_p = parse_real(flag, value(), 0.0, 1.0, /*open_lo=*/true);
    } else if (flag == "--min-p") {
      a.sampling.min_p = parse_real(flag, value(), 0.0, 1.0);
    } else if (flag == "--repeat-penalty") {
      a.sampling.repetition_penalty =
          parse_real(flag, value(), 0.0, kMaxRepetitionPenalty, /*open_lo=*/true);
    } else if (flag == "--repeat-last-n") {
      a.sampling.repetition_window = static_cast<int32_t>(parse_int(flag, value(), 0, kInt32Max));
    } else if (flag == "--kv-type") {
      const std::string_view v = value();
      if (v == "f16") a.kv_type = KvType::F16;
      else if (v == "f32") a.kv_type = KvType::F32;
      else throw UsageError{flag + " expects f16 or f32, got '" + std::string(v) + "'"};
    } else if (flag == "--parallel") {
      a.parallel = parse_int(flag, value(), 1, kMaxParallel);
    } else if (flag == "--prompt-file") {
      a.prompt_file = value();
      if (a.prompt_file.empty()) throw UsageError{flag + " expects a file name, got ''"};
    } else if (flag == "-h" || flag == "--help") {
      a.help = true;
    } else {
      throw UsageError{"unknown argument '" + flag + "'"};
    }
  }
  if (a.parallel > 0 && a.prompt_file.empty()) throw UsageError{"--parallel needs --prompt-file"};
  if (a.parallel == 0 && !a.prompt_file.empty()) throw UsageError{"--prompt-file needs --parallel N"};
  // The ranges above imply the sampler's own checks; a failure here is a
  // bug in this parser, reported the same way.
  try {
    a.sampling.validate();
  } catch (const Error& e) {
    throw UsageError{e.what()};
  }
  return a;
}

}  // namespace trix::generate_cli
