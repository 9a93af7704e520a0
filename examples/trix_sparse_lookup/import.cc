// trix-import-sparse-lookup: a TriXLanguageModel state_dict (safetensors)
// -> GGUF of architecture trix_sparse_lookup. The parameter mapping is in
// include/trix/convert/safetensors_to_trix_lm.h.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "trix/convert/safetensors_to_trix_lm.h"
#include "trix/core/error.h"
#include "trix/io/gguf_writer.h"
#include "trix/io/safetensors.h"

namespace {

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --heads N [--tiles-per-cluster K] [--eps E] [--name NAME] in.safetensors out.gguf\n"
               "  --heads N              attention heads (a state_dict does not record them)\n"
               "  --tiles-per-cluster K  needed only without blocks.0.ffn.cluster_assignments\n"
               "  --eps E                LayerNorm epsilon (default 1e-5, PyTorch's)\n",
               argv0);
}

int64_t parse_int(std::string_view flag, const std::string& v) {
  size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n <= 0) {
    throw trix::Error(std::string(flag) + ": expected a positive integer, got '" + v + "'");
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  trix::TrixLmImportOptions opt;
  std::string in, out;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      const auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw trix::Error(std::string(a) + " needs a value");
        return argv[++i];
      };
      if (a == "--heads") {
        opt.n_heads = parse_int(a, value());
      } else if (a == "--tiles-per-cluster") {
        opt.tiles_per_cluster = parse_int(a, value());
      } else if (a == "--eps") {
        const std::string v = value();
        size_t used = 0;
        try {
          opt.norm_eps = std::stof(v, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != v.size() || !(opt.norm_eps > 0.0f)) {
          throw trix::Error("--eps: expected a positive number, got '" + v + "'");
        }
      } else if (a == "--name") {
        opt.name = value();
      } else if (a == "-h" || a == "--help") {
        usage(argv[0]);
        return 0;
      } else if (in.empty()) {
        in = a;
      } else if (out.empty()) {
        out = a;
      } else {
        throw trix::Error("unexpected argument '" + std::string(a) + "'");
      }
    }
    if (in.empty() || out.empty() || opt.n_heads == 0) {
      usage(argv[0]);
      return 2;
    }
    const trix::SafetensorsReader st = trix::SafetensorsReader::open(in);
    trix::GgufWriter writer(out, {in});
    const trix::TrixLmImportShape s = trix::safetensors_to_trix_lm(st, opt, writer);
    std::printf("%s: d_model %lld, %lld layers, %lld heads, vocab %lld, context %lld, %lld tiles (clusters of %lld), "
                "grid %lld, compress %lld\n",
                out.c_str(), static_cast<long long>(s.dim), static_cast<long long>(s.n_layers),
                static_cast<long long>(s.n_heads), static_cast<long long>(s.vocab), static_cast<long long>(s.context),
                static_cast<long long>(s.tiles), static_cast<long long>(s.tiles_per_cluster),
                static_cast<long long>(s.grid), static_cast<long long>(s.compress_hidden));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
