// libFuzzer target for trix-gen's spec reader (codegen/src): the input is
// read as a spec of each kind in turn (specs/formats, specs/kernels,
// specs/models), next to some of the project's real format specs so that a
// kernel or model can refer to them, and, when the set is valid, emitted. The only
// acceptable failure is trixgen::SpecError (one line naming file:line:col);
// any other exception escapes and libFuzzer reports it, as it does crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "spec_reader.h"
#include "specs.h"

#ifndef TRIX_SOURCE_DIR
#error "TRIX_SOURCE_DIR must name the source tree (set by tests/fuzz/CMakeLists.txt)"
#endif

namespace {

using SpecTexts = std::vector<std::pair<std::string, std::string>>;

SpecTexts read_formats(std::initializer_list<const char*> names) {
  SpecTexts t;
  for (const char* name : names) {
    const auto path = std::filesystem::path(TRIX_SOURCE_DIR) / "specs" / "formats" / (std::string(name) + ".yaml");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (!in) std::abort();  // the source tree moved
    t.emplace_back("specs/formats/" + path.filename().string(), s.str());
  }
  return t;
}

// Real format specs for a fuzzed kernel or model to refer to, read once.
// Parsing YAML dominates an execution, so only the formats the seed
// kernels and models use, not all of specs/formats.
const SpecTexts& formats_for(const std::string& kind) {
  static const SpecTexts for_kernels = read_formats({"f16", "f32", "i2_s", "i8_s", "q8_0", "q8_k", "tq2_0"});
  static const SpecTexts for_models = read_formats({"f32"});
  static const SpecTexts none;
  return kind == "kernel" ? for_kernels : kind == "model" ? for_models : none;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* kind : {"format", "kernel", "model"}) {
    SpecTexts files = formats_for(kind);
    files.emplace_back(std::string("specs/") + kind + "s/zz_fuzz.yaml", text);
    try {
      const trixgen::SpecSet set = trixgen::load_spec_texts(files);
      (void)trixgen::generate(set, TRIX_SOURCE_DIR);
    } catch (const trixgen::SpecError&) {
    }
  }
  return 0;
}
