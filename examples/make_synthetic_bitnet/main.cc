// trix-make-synthetic-bitnet: writes a GGUF with BitNet-b1.58-2B-4T's tensor
// names, shapes and metadata, filled with deterministic pseudo-random
// ternary weights (see trix/convert/synthetic_bitnet.h).
//
//   trix-make-synthetic-bitnet [--type tq2_0|tq1_0|i2_s|f32] [--layers N]
//                              [--small] [--published]
//                              [--arch bitnet-b1.58|bitnet-25|bitnet]
//                              [--hidden-act relu2|silu]
//                              [--seed S] [--threads N] out.gguf
// --small: the 2-layer, small-vocabulary test variant (dim 256, ffn 512).
// --published: the layout of the published ggml-model-i2_s.gguf (I2_S, F16
// tied embedding, gpt2 tokenizer with scores and no pre, add_bos); --type
// must then be i2_s (the default under --published).
// --arch bitnet: llama.cpp's architecture name (its upstream loader knows
// this one; bitnet.cpp knows all three; TriX runs "bitnet" with SiLU unless
// --hidden-act says otherwise). --hidden-act writes <arch>.hidden_activation.
// Errors print one line, exit non-zero.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/io/output_file.h"
#include "trix/convert/synthetic_bitnet.h"

namespace {

int64_t parse_int(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') throw trix::Error(flag + " expects an integer, got '" + text + "'");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    trix::SyntheticBitnetOptions o;
    std::string type, out, arch = o.arch, hidden_act;
    int64_t layers = -1, threads = 0;
    uint64_t seed = o.seed;
    bool small = false, published = false;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw trix::Error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--type") {
        type = value();
      } else if (a == "--layers") {
        layers = parse_int(a, value());
      } else if (a == "--small") {
        small = true;
      } else if (a == "--published") {
        published = true;
      } else if (a == "--hidden-act") {
        hidden_act = value();
      } else if (a == "--arch") {
        arch = value();
      } else if (a == "--seed") {
        seed = static_cast<uint64_t>(parse_int(a, value()));
      } else if (a == "--threads") {
        threads = parse_int(a, value());
        if (threads < 1 || threads > 1024) throw trix::Error("--threads must be in [1, 1024]");
      } else if (a == "-h" || a == "--help") {
        std::printf("usage: %s [--type tq2_0|tq1_0|i2_s|f32] [--layers N] [--small] "
                    "[--published] [--arch bitnet-b1.58|bitnet-25|bitnet] [--hidden-act relu2|silu] "
                    "[--seed S] [--threads N] out.gguf\n", argv[0]);
        return 0;
      } else if (!a.empty() && a[0] == '-') {
        throw trix::Error("unknown argument '" + a + "' (see --help)");
      } else if (out.empty()) {
        out = a;
      } else {
        throw trix::Error("more than one output file given ('" + out + "', '" + a + "')");
      }
    }
    if (out.empty()) throw trix::Error("no output file given (usage: --type tq2_0 --layers 30 out.gguf)");
    trix::check_output_path(out);  // a directory, device or FIFO: refused before the work
    if (type.empty()) type = published ? "i2_s" : "tq2_0";
    // Known formats other than these four are refused here too, naming the flag.
    const trix::FormatInfo* f = trix::find_format(type);
    if (!f || (f->id != trix::FormatId::TQ2_0 && f->id != trix::FormatId::TQ1_0 &&
               f->id != trix::FormatId::I2_S && f->id != trix::FormatId::F32)) {
      throw trix::Error("--type '" + type + "': expected tq2_0, tq1_0, i2_s or f32");
    }
    const trix::FormatId format = f->id;
    if (small) o = trix::SyntheticBitnetOptions::small(format);
    o.weight_format = format;
    o.published = published;
    o.hidden_activation = hidden_act;
    o.arch = arch;
    o.seed = seed;
    if (layers >= 0) o.n_layers = layers;
    o.validate();

    const auto t0 = std::chrono::steady_clock::now();
    trix::ThreadPool pool(static_cast<size_t>(threads));
    trix::write_synthetic_bitnet(o, out, pool);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %s, %lld layers, %.1f MiB in %.1f s\n", out.c_str(), f->name,
                static_cast<long long>(o.n_layers),
                static_cast<double>(std::filesystem::file_size(out)) / (1024.0 * 1024.0), s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
