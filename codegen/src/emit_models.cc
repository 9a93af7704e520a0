// Emits, per model spec, trix/models/<name>.h: the model's description
// (architecture, graph options, tensor names) and, when compile_time is set,
// a Shape type with constexpr hyper-parameters that the runtime's blocks
// accept in place of the runtime shape.
#include <cmath>
#include <sstream>

#include "specs.h"

namespace trixgen {
namespace {

std::string number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::ostringstream s;
    s << static_cast<long long>(v);
    return s.str();
  }
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

}  // namespace

void emit_models(const SpecSet& specs, FileMap& out) {
  for (const auto& m : specs.models) {
    std::ostringstream h;
    h << banner(m.file) << "// " << m.doc << "\n#pragma once\n\n#include <cstdint>\n\n"
      << "namespace trix::models {\n\n"
      << "struct " << m.class_name << " {\n"
      << "  static constexpr char kName[] = \"" << m.name << "\";\n"
      << "  static constexpr char kArchitecture[] = \"" << m.architecture << "\";\n"
      << "  static constexpr bool kCompileTime = " << (m.compile_time ? "true" : "false") << ";\n"
      << "  static constexpr bool kSwiGLU = " << (m.ffn == "swiglu" ? "true" : "false") << ";\n"
      << "  static constexpr bool kRopeNeox = " << (m.rope_style == "neox" ? "true" : "false") << ";\n"
      << "  static constexpr bool kSubNorms = " << (m.sub_norms ? "true" : "false") << ";\n"
      << "  static constexpr bool kTiedOutput = " << (m.tied_output ? "true" : "false") << ";\n";
    for (const auto& [key, value] : m.hparams) {
      const bool is_float = key == "rope_theta" || key == "rms_eps";
      h << "  static constexpr " << (is_float ? "float " : "int64_t ") << key << " = " << number(value)
        << (is_float ? (number(value).find_first_of(".e") == std::string::npos ? ".0f" : "f") : "")
        << ";\n";
    }
    h << "  static constexpr int64_t head_dim = dim / n_heads;\n"
      << "  struct Tensor {\n    const char* name;  // {layer} stands for the block index\n"
      << "    const char* role;\n    const char* format;  // \"any\": whatever the file holds\n  };\n"
      << "  static constexpr Tensor kTensors[] = {\n";
    for (const auto& t : m.tensors) {
      h << "      {\"" << t.name << "\", \"" << t.role << "\", \"" << t.format << "\"},\n";
    }
    h << "  };\n};\n\n}  // namespace trix::models\n";
    out["trix/models/" + m.name + ".h"] = h.str();
  }
}

}  // namespace trixgen
