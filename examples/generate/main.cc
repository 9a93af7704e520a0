// generate: text generation from a GGUF model (llama or bitnet-b1.58).
//
//   generate [-m model.gguf] [-p "prompt"] [-n 64] [--temp T] [--seed S]
//            [--threads N] [--top-k K] [--top-p P]
//
// Prints the prompt and then each token as it is produced, and ends with
//   prompt: N tokens, X tok/s | decode: M tokens, Y tok/s
// Without -m it tells the stories260K story: it looks in
// $TRIX_SHARED_DIR/models/stories260K (default: ../shared next to the
// checkout) and converts stories260K.bin + tok512.bin to a GGUF in the build
// folder ($TRIX_MODEL_CACHE_DIR overrides it) the first time. Errors print
// one line and exit non-zero.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/cpu/thread_pool.h"
#include "trix/model/forward.h"
#include "trix/model/llama2c.h"
#include "trix/model/loader.h"
#include "trix/model/sampler.h"

#ifndef TRIX_DEFAULT_SHARED_DIR
#define TRIX_DEFAULT_SHARED_DIR "../shared"
#endif
#ifndef TRIX_GENERATE_CACHE_DIR
#define TRIX_GENERATE_CACHE_DIR "."
#endif

namespace {

namespace fs = std::filesystem;

struct Args {
  std::string model;
  std::string prompt;
  int64_t n_predict = 64;
  trix::SamplerConfig sampling;
  size_t threads = 0;  // 0: all hardware threads
};

// A usage problem: message plus usage text, exit code 2.
struct UsageError {
  std::string what;
};

void print_usage(std::FILE* to, const char* argv0) {
  std::fprintf(to,
               "usage: %s [-m model.gguf] [-p \"prompt\"] [-n 64] [--temp T] [--seed S]\n"
               "          [--threads N] [--top-k K] [--top-p P]\n"
               "Without -m, tells the stories260K story from $TRIX_SHARED_DIR/models/stories260K.\n",
               argv0);
}

template <class T>
T parse_number(std::string_view flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  T v{};
  if constexpr (std::is_floating_point_v<T>) {
    v = static_cast<T>(std::strtod(text.c_str(), &end));
  } else if constexpr (std::is_signed_v<T>) {
    v = static_cast<T>(std::strtoll(text.c_str(), &end, 10));
  } else {
    if (!text.empty() && text[0] == '-') end = nullptr;
    else v = static_cast<T>(std::strtoull(text.c_str(), &end, 10));
  }
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0) {
    throw UsageError{std::string(flag) + " expects a number, got '" + text + "'"};
  }
  return v;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError{flag + " needs a value"};
      return argv[++i];
    };
    if (flag == "-m" || flag == "--model") {
      a.model = value();
    } else if (flag == "-p" || flag == "--prompt") {
      a.prompt = value();
    } else if (flag == "-n" || flag == "--n-predict") {
      a.n_predict = parse_number<int64_t>(flag, value());
      if (a.n_predict < 0) throw UsageError{"-n must be >= 0"};
    } else if (flag == "--temp") {
      a.sampling.temperature = parse_number<float>(flag, value());
    } else if (flag == "--seed") {
      a.sampling.seed = parse_number<uint64_t>(flag, value());
    } else if (flag == "--threads" || flag == "-t") {
      a.threads = parse_number<size_t>(flag, value());
      if (a.threads == 0 || a.threads > 1024) throw UsageError{"--threads must be in [1, 1024]"};
    } else if (flag == "--top-k") {
      a.sampling.top_k = parse_number<int32_t>(flag, value());
    } else if (flag == "--top-p") {
      a.sampling.top_p = parse_number<float>(flag, value());
    } else if (flag == "-h" || flag == "--help") {
      print_usage(stdout, argv[0]);
      std::exit(0);
    } else {
      throw UsageError{"unknown argument '" + flag + "'"};
    }
  }
  a.sampling.validate();  // throws trix::Error naming the bad field
  return a;
}

fs::path shared_dir() {
  if (const char* env = std::getenv("TRIX_SHARED_DIR"); env && *env) return env;
  return TRIX_DEFAULT_SHARED_DIR;
}

// The stories260K GGUF in the build folder, converted from ../shared on
// first use; nullopt when the llama2.c files are not there.
std::optional<fs::path> default_model() {
  const fs::path dir = shared_dir() / "models" / "stories260K";
  const fs::path bin = dir / "stories260K.bin", tok = dir / "tok512.bin";
  const char* cache_env = std::getenv("TRIX_MODEL_CACHE_DIR");
  const fs::path cache = cache_env && *cache_env ? fs::path(cache_env) : fs::path(TRIX_GENERATE_CACHE_DIR);
  const fs::path gguf = cache / "stories260K.gguf";
  if (fs::exists(gguf)) return gguf;
  if (!fs::exists(bin) || !fs::exists(tok)) return std::nullopt;
  std::fprintf(stderr, "converting %s + %s -> %s\n", bin.c_str(), tok.c_str(), gguf.c_str());
  // Through trix::OutputFile: a unique temporary renamed into place, so a
  // run killed midway leaves nothing behind and concurrent first runs each
  // write their own complete copy.
  trix::convert_llama2c_to_gguf(bin, tok, gguf);
  return gguf;
}

int run(const Args& a) {
  fs::path path = a.model;
  if (path.empty()) {
    const auto found = default_model();
    if (!found) {
      std::fprintf(stderr,
                   "error: no model given and no stories260K found in %s; pass one with "
                   "-m model.gguf (or set TRIX_SHARED_DIR to the folder holding models/)\n",
                   (shared_dir() / "models" / "stories260K").c_str());
      return 1;
    }
    path = *found;
  }
  const trix::LoadedModel m = trix::load_model(path);
  const trix::Tokenizer& tok = m.tokenizer;

  std::vector<int32_t> prompt = tok.encode(a.prompt, /*add_special=*/true);
  if (prompt.empty() || prompt.front() != tok.bos()) {
    if (tok.bos() < 0) throw trix::Error(path.string() + ": the model has no BOS token to start from");
    prompt.insert(prompt.begin(), tok.bos());
  }
  // The KV cache only needs the positions this run can use.
  const int64_t wanted = static_cast<int64_t>(prompt.size()) + a.n_predict;
  const int64_t context = std::min(m.config.context_length, std::max<int64_t>(wanted, 1));
  if (static_cast<int64_t>(prompt.size()) > m.config.context_length) {
    throw trix::Error("the prompt has " + std::to_string(prompt.size()) +
                      " tokens, more than the model's context length " +
                      std::to_string(m.config.context_length));
  }

  trix::ThreadPool pool(a.threads);
  trix::Decoder<trix::RuntimeShape> dec(trix::RuntimeShape::from(m.config), m.prepared, pool,
                                        trix::KvType::F32, /*max_batch=*/64, context);
  trix::Sampler sampler(a.sampling);
  trix::GenerateOptions opt;
  opt.max_new_tokens = a.n_predict;
  opt.eos_id = tok.eos();

  std::fputs(a.prompt.c_str(), stdout);
  std::fflush(stdout);
  // With no prompt text, the first piece's leading space (SentencePiece's
  // word marker) is not printed, as the README's story shows.
  bool strip_space = a.prompt.empty();
  trix::GenerateResult r;
  if (a.n_predict > 0) {
    r = trix::generate(dec, sampler, prompt, opt, [&](int32_t id) {
      trix::DecodeOptions d;
      d.strip_space_prefix = strip_space;
      const std::string piece = tok.decode(std::span<const int32_t>(&id, 1), d);
      if (!piece.empty()) strip_space = false;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
  }
  const auto rate = [](int64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; };
  std::printf("\nprompt: %lld tokens, %.1f tok/s | decode: %lld tokens, %.1f tok/s\n",
              static_cast<long long>(r.n_prompt), rate(r.n_prompt, r.prompt_seconds),
              static_cast<long long>(r.n_decoded), rate(r.n_decoded, r.decode_seconds));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what.c_str());
    print_usage(stderr, argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
