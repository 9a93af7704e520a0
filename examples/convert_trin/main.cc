// trix-convert-trin: Trinity-1.58bit TRIN file + model spec -> GGUF (TQ2_0).
// See include/trix/convert/trin_to_gguf.h for the tensor order, the q/k row
// permutation and where scales come from.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "trix/io/output_file.h"
#include "trix/io/gguf_reader.h"
#include "trix/convert/trin_to_gguf.h"

namespace {

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --model <spec> --trin weights.trin [--scales scales.txt] [--scale S]\n"
               "          [--scale-from-base] [--base base.gguf] [--no-output-in-trin] [--no-permute-qk] out.gguf\n"
               "  --model            model spec name (specs/models/<name>.yaml), e.g. tinyllama_1_1b\n"
               "  --scales FILE      one \"<tensor name> <scale>\" per line ('#' comments)\n"
               "  --scale S          scale for every tensor the scales file does not list\n"
               "  --scale-from-base  Trinity's rule: std(base F32/F16 weight) / std(ternary)\n"
               "  --base FILE        GGUF of the same architecture: tokenizer, embeddings, norms\n"
               "  --no-output-in-trin  the TRIN lacks lm_head (Trinity's packer includes it)\n"
               "  --no-permute-qk    keep q/k rows as in the TRIN (already GGUF rotary order)\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, trin, out;
  trix::TrinConvertOptions opt;
  trix::TrinDescOptions dopt;
  std::string scales_path;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw trix::Error(std::string(a) + " needs a value");
        return argv[++i];
      };
      if (a == "--model") {
        model = value();
      } else if (a == "--trin") {
        trin = value();
      } else if (a == "--scales") {
        scales_path = value();
      } else if (a == "--scale") {
        const std::string v = value();
        size_t used = 0;
        float s = 0.0f;
        try {
          s = std::stof(v, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != v.size()) throw trix::Error("--scale: \"" + v + "\" is not a number");
        opt.scale = s;
      } else if (a == "--scale-from-base") {
        opt.scale_from_base = true;
      } else if (a == "--base") {
        opt.base = value();
      } else if (a == "--no-output-in-trin") {
        dopt.output_in_trin = false;
      } else if (a == "--no-permute-qk") {
        dopt.permute_qk = false;
      } else if (a == "-h" || a == "--help") {
        usage(argv[0]);
        return 0;
      } else if (!a.empty() && a[0] == '-') {
        throw trix::Error("unknown option " + std::string(a));
      } else if (out.empty()) {
        out = a;
      } else {
        throw trix::Error("more than one output file given");
      }
    }
    if (model.empty() || trin.empty() || out.empty()) {
      usage(argv[0]);
      return 2;
    }
    if (opt.scale_from_base && !opt.base) throw trix::Error("--scale-from-base needs --base");
    // Before reading anything: the output must not be an input.
    std::vector<std::filesystem::path> inputs{trin};
    if (opt.base) inputs.emplace_back(*opt.base);
    if (!scales_path.empty()) inputs.emplace_back(scales_path);
    trix::check_output_path(out, inputs);
    if (!scales_path.empty()) {
      opt.scales = trix::read_trin_scales(scales_path);
      opt.scales_file = scales_path;
    }
    const trix::TrinModelDesc desc = trix::trin_model_desc_by_name(model, dopt);
    const trix::TrinConvertReport rep = trix::convert_trin_to_gguf(desc, trin, out, opt);
    const trix::GgufReader r = trix::GgufReader::open(out);  // check what we wrote
    std::printf("%s: %zu ternary tensors (TQ2_0), %zu copied from the base, %zu metadata keys, %llu bytes\n",
                out.c_str(), rep.ternary_tensors, rep.copied_tensors, r.metadata().size(),
                static_cast<unsigned long long>(r.file_size()));
    if (rep.scales_rounded != 0) {
      std::printf("note: %zu scales were rounded to f16 (TQ2_0's d); the GGUF holds exactly f16(scale) * w\n",
                  rep.scales_rounded);
    }
    if (!rep.runnable) {
      std::printf("note: not runnable alone: it has no tokenizer%s; pass --base <GGUF of the same model>\n",
                  opt.base ? "" : ", embeddings or norms");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
