// generate: text generation from a GGUF model (llama or bitnet-b1.58).
//
//   generate [-m model.gguf] [-p "prompt"] [-n 64] [--ctx N] [--temp T] [--seed S]
//            [--threads N] [--top-k K] [--top-p P] [--min-p P] ...
//            [--parallel N --prompt-file FILE]
// (generate_args.h parses and range-checks the flags). --parallel runs the
// file's first N lines together on the batching engine (parallel.h).
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
#include "trix/core/thread_pool.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/decoder.h"
#include "trix/io/llama2c.h"
#include "trix/convert/llama2c_to_gguf.h"
#include "trix/runtime/loader.h"
#include "trix/runtime/sampler.h"
#include "generate_args.h"
#include "parallel.h"

#ifndef TRIX_DEFAULT_SHARED_DIR
#define TRIX_DEFAULT_SHARED_DIR "../shared"
#endif
#ifndef TRIX_GENERATE_CACHE_DIR
#define TRIX_GENERATE_CACHE_DIR "."
#endif

namespace {

namespace fs = std::filesystem;

using trix::generate_cli::Args;
using trix::generate_cli::UsageError;

// -m must name a regular file: a FIFO would block the open, and a
// directory or device is never a model. Missing files are left to the
// loader, whose "cannot open" names the path.
void check_model_path(const fs::path& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st) || fs::is_regular_file(st)) return;
  const char* what = fs::is_directory(st)        ? "a directory"
                     : fs::is_fifo(st)           ? "a FIFO"
                     : fs::is_character_file(st) ? "a character device"
                     : fs::is_block_file(st)     ? "a block device"
                     : fs::is_socket(st)         ? "a socket"
                                                 : "not a plain file";
  throw trix::Error(path.string() + ": not a regular file (it is " + what +
                    "); -m expects a GGUF model file");
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
  if (!path.empty()) check_model_path(path);
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

  const auto encode = [&](const std::string& text) {
    std::vector<int32_t> ids = tok.encode(text, /*add_special=*/true);
    if (ids.empty() || ids.front() != tok.bos()) {
      if (tok.bos() < 0) throw trix::Error(path.string() + ": the model has no BOS token to start from");
      ids.insert(ids.begin(), tok.bos());
    }
    return ids;
  };
  if (a.parallel > 0) return trix::generate_cli::run_parallel(a, m, encode);
  std::vector<int32_t> prompt = encode(a.prompt);
  // The run context: --ctx, or what this run can use (prompt + n), never
  // more than the model's. Sizes the KV cache and scratch. The parser caps
  // -n and --ctx at kMaxTokens, so the sum cannot overflow.
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (a.ctx > m.config.context_length) {
    throw trix::Error("--ctx " + std::to_string(a.ctx) + " exceeds the model's context length " +
                      std::to_string(m.config.context_length) + " (" + path.string() + ")");
  }
  const int64_t wanted = a.ctx > 0 ? a.ctx : std::max<int64_t>(n_prompt + a.n_predict, 1);
  const int64_t context = std::min(m.config.context_length, wanted);
  if (n_prompt > context) {
    const std::string limit = a.ctx > 0 ? "--ctx " : "the model's context length ";
    throw trix::Error("the prompt has " + std::to_string(n_prompt) + " tokens, more than " + limit +
                      std::to_string(context));
  }

  trix::ThreadPool pool(a.threads);
  trix::Decoder<trix::RuntimeShape> dec(trix::RuntimeShape::from(m.config), m.prepared, pool,
                                        a.kv_type, /*max_batch=*/64, context);
  trix::Sampler sampler(a.sampling);
  trix::GenerateOptions opt;
  opt.max_new_tokens = a.n_predict;
  opt.eos_id = tok.eos();
  opt.stop_ids = tok.eog_ids();  // eot, eom, <|eot_id|>, ... as llama.cpp stops

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
  if (r.stop == trix::StopReason::ContextFull) {
    std::fprintf(stderr, "note: stopped after %zu tokens: the context (%lld tokens) is full\n",
                 r.tokens.size(), static_cast<long long>(context));
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
    const Args a = trix::generate_cli::parse_generate_args(argc, argv);
    if (a.help) {
      std::fputs(trix::generate_cli::usage_text(), stdout);
      return 0;
    }
    return run(a);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what.c_str());
    std::fputs(trix::generate_cli::usage_text(), stderr);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
