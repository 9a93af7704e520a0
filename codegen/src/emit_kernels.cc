// Emits, per kernel spec: the spec constants (trix/kernels/<name>.h), the
// Highway instantiations (trix/cpu/kernels-inl.h) with the static dispatch
// header and the dynamic dispatch declarations (trix/cpu/dispatch.h, whose
// TRIX_CPU_KERNELS list trix/cpu/implementation.h defines them from), the
// CUDA header (trix/cuda/<name>.cuh) and the Metal source plus its C++ host
// header (trix/metal/<name>.metal, .h).
#include <fstream>
#include <span>
#include <set>
#include <sstream>

#include "spec_reader.h"
#include "specs.h"

namespace trixgen {
namespace {

const VariantSpec* find_variant(const KernelSpec& k, const std::string& backend) {
  for (const auto& v : k.variants) {
    if (v.backend == backend) return &v;
  }
  return nullptr;
}

bool has(const std::vector<std::string>& xs, const std::string& x) {
  for (const auto& y : xs) {
    if (y == x) return true;
  }
  return false;
}

const FormatSpec& format(const SpecSet& s, const std::string& name) {
  for (const auto& f : s.formats) {
    if (f.name == name) return f;
  }
  throw SpecError("internal: format " + name + " vanished after validation");
}

int64_t field_offset(const FormatSpec& f, const std::string& field) {
  for (const auto& fs : f.fields) {
    if (fs.name == field) return fs.offset;
  }
  throw SpecError(f.file + ": error: format " + f.name + " has no field '" + field +
                  "' required by the kernel body");
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path + ": error: cannot read kernel body (is --root the repository root?)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Shortest decimal form that reads back as the same double.
std::string exact_double(double x) {
  for (int precision = 1; precision <= 17; ++precision) {
    std::ostringstream o;
    o.precision(precision);
    o << x;
    if (std::stod(o.str()) == x) return o.str();
  }
  throw SpecError("internal: cannot print " + std::to_string(x));
}

const Implementation& implementation(const KernelSpec& k) {
  const Implementation* impl = find_implementation(k.op, k.weights, k.activations, k.layout);
  if (!impl) throw SpecError("internal: kernel " + k.name + " lost its implementation after validation");
  return *impl;
}

// What each DeviceContract needs from the emitters: the CUDA launcher, the
// threads per row, the body functions the generated Body struct forwards
// to, and the Metal kernel's per-row code.
struct ContractCode {
  const char* cuda_header;
  const char* cuda_launcher;
  unsigned threads_per_row;
  const char* body_struct;  // {p}: the body's function prefix
  const char* metal_row;    // {p} as above; computes y[row] from w_row, x, p.k, lane
};

ContractCode contract_code(DeviceContract c) {
  switch (c) {
    case DeviceContract::kLanes16:
      return {"trix/cuda/gemv_lanes16.cuh", "launch_gemv_lanes16", 16,
              "  __host__ __device__ static float lane(const uint8_t* w_row, const uint8_t* x, uint32_t k, uint32_t lane) {\n"
              "    return {p}_lane(w_row, x, k, lane);\n  }\n",
              "  float v = 0.0f;\n"
              "  if (row < p.rows) v = {p}_lane(w + row * p.w_row_bytes, x, p.k, lane);\n"
              "  // Butterfly of the lanes16 contract; every thread takes part.\n"
              "  v += simd_shuffle_xor(v, 8u);\n  v += simd_shuffle_xor(v, 4u);\n"
              "  v += simd_shuffle_xor(v, 2u);\n  v += simd_shuffle_xor(v, 1u);\n"
              "  if (lane == 0u && row < p.rows) y[row] = v;\n"};
    case DeviceContract::kIntLanes16:
      return {"trix/cuda/gemv_int_lanes16.cuh", "launch_gemv_int_lanes16", 16,
              "  __host__ __device__ static int lane_isum(const uint8_t* w_row, const uint8_t* x, uint32_t k, uint32_t lane) {\n"
              "    return {p}_lane_isum(w_row, x, k, lane);\n  }\n"
              "  __host__ __device__ static float finish(int isum, const uint8_t* x, uint32_t k) {\n"
              "    return {p}_finish(isum, x, k);\n  }\n",
              "  int s = 0;\n"
              "  if (row < p.rows) s = {p}_lane_isum(w + row * p.w_row_bytes, x, p.k, lane);\n"
              "  // Exact integer sum of the 16 lanes; every thread takes part.\n"
              "  s += simd_shuffle_xor(s, 8u);\n  s += simd_shuffle_xor(s, 4u);\n"
              "  s += simd_shuffle_xor(s, 2u);\n  s += simd_shuffle_xor(s, 1u);\n"
              "  if (lane == 0u && row < p.rows) y[row] = {p}_finish(s, x, p.k);\n"};
    case DeviceContract::kBlockSequential:
      return {"trix/cuda/gemv_block_sequential.cuh", "launch_gemv_block_sequential", 32,
              "  __host__ __device__ static int block_isum(const uint8_t* w_row, const uint8_t* x, uint32_t b) {\n"
              "    return {p}_block_isum(w_row, x, b);\n  }\n"
              "  __host__ __device__ static float block_scale(const uint8_t* w_row, const uint8_t* x, uint32_t b) {\n"
              "    return {p}_block_scale(w_row, x, b);\n  }\n",
              "  // A whole SIMD group per row: it returns (or not) as one.\n"
              "  if (row >= p.rows) return;\n"
              "  device const uchar* w_row = w + row * p.w_row_bytes;\n"
              "  const uint n_blocks = p.k / kBlockElements;\n"
              "  float acc = 0.0f;\n"
              "  for (uint base = 0; base < n_blocks; base += 32u) {\n"
              "    const uint b = base + lane;\n"
              "    const int isum = b < n_blocks ? {p}_block_isum(w_row, x, b) : 0;\n"
              "    const float scale = b < n_blocks ? {p}_block_scale(w_row, x, b) : 0.0f;\n"
              "    const uint count = n_blocks - base < 32u ? n_blocks - base : 32u;\n"
              "    for (uint j = 0; j < count; ++j) {\n"
              "      acc = fma(float(simd_shuffle(isum, ushort(j))), simd_shuffle(scale, ushort(j)), acc);\n"
              "    }\n  }\n"
              "  if (lane == 0u) y[row] = acc;\n"};
  }
  throw SpecError("internal: unknown device contract");
}

// The constants of one backend's parameters, in the implementation's order.
void emit_params(std::ostringstream& h, const VariantSpec& v, std::span<const ParamRule> rules) {
  for (const auto& r : rules) {
    h << "  static constexpr " << r.type << " " << r.constant << " = " << v.params.at(r.name) << ";  // "
      << r.name << ": " << r.doc << "\n";
  }
}

void emit_spec_header(const KernelSpec& k, FileMap& out) {
  const Implementation& impl = implementation(k);
  std::ostringstream h;
  h << banner(k.file) << "// " << k.doc << "\n#pragma once\n\n#include <array>\n#include <cstddef>\n\n"
    << "#include \"trix/formats/blocks.h\"\n#include \"trix/kernels/accuracy.h\"\n\n"
    << "namespace trix::kernels::" << k.name << " {\n\n"
    << "inline constexpr char kName[] = \"" << k.name << "\";\n"
    << "inline constexpr char kOp[] = \"" << k.op << "\";\n"
    << "inline constexpr char kLayout[] = \"" << k.layout << "\";\n"
    << "inline constexpr FormatId kWeights = FormatId::" << upper(k.weights) << ";\n"
    << "// Stored weight formats this kernel runs: kWeights, then those prepare_weight\n"
    << "// converts to its layout at load time.\n"
    << "inline constexpr std::array<FormatId, " << 1 + k.prepared_from.size() << "> kSourceFormats = {"
    << "FormatId::" << upper(k.weights);
  for (const auto& f : k.prepared_from) h << ", FormatId::" << upper(f);
  h << "};\n"
    << "inline constexpr FormatId kActivations = FormatId::" << upper(k.activations) << ";\n"
    << "// The spec's accuracy contract against " << k.reference << "; tests demand it.\n"
    << "inline constexpr Accuracy kAccuracy = "
    << (k.accuracy == "bit_exact" ? std::string("Accuracy::bit_exact_contract()")
                                  : "Accuracy::tolerance(" + exact_double(k.tolerance_rel) + ")")
    << ";\n\n";
  if (const auto* v = find_variant(k, "cpu_highway")) {
    h << "struct CpuHighway {\n";
    emit_params(h, *v, impl.cpu_params);
    h << "  static constexpr bool kStaticDispatch = " << (has(v->dispatch, "static") ? "true" : "false")
      << ";\n  static constexpr bool kDynamicDispatch = " << (has(v->dispatch, "dynamic") ? "true" : "false")
      << ";\n};\n\n";
  }
  if (const auto* v = find_variant(k, "cuda")) {
    h << "struct Cuda {\n";
    emit_params(h, *v, impl.device->cuda_params);
    h << "  static constexpr unsigned kLanesPerRow = " << contract_code(impl.device->contract).threads_per_row
      << ";\n  static constexpr unsigned kRowsPerBlock = kThreadsPerBlock / kLanesPerRow;\n};\n\n";
  }
  if (const auto* v = find_variant(k, "metal")) {
    h << "struct Metal {\n";
    emit_params(h, *v, impl.device->metal_params);
    h << "  static constexpr unsigned kLanesPerRow = " << contract_code(impl.device->contract).threads_per_row
      << ";\n};\n\n";
  }
  h << "}  // namespace trix::kernels::" << k.name << "\n";
  out["trix/kernels/" + k.name + ".h"] = h.str();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// Parameter list and whole-range overload of one generated CPU entry point.
struct CpuEntry {
  const char* params;
  const char* args_header;
  const char* whole;  // body of the (args) overload calling the ranged one
  const char* range_doc;
};
CpuEntry cpu_entry(CpuSignature sig) {
  switch (sig) {
    case CpuSignature::kGemvArgs:
      return {"const GemvArgs& args, size_t begin, size_t end", "trix/kernels/gemv_args.h",
              "args, 0, args.rows", "Rows [begin, end) of y = W x"};
    case CpuSignature::kPacked:
      return {"const PackedMatmulArgs& args, size_t begin, size_t end", "trix/cpu/ternary_packed.h",
              "args, 0, args.w.n_groups()", "Row groups [begin, end) (rows 4 * begin ..) of y = W x"};
  }
  return {};
}

void emit_cpu(const SpecSet& s, FileMap& out) {
  std::vector<const KernelSpec*> cpu;
  for (const auto& k : s.kernels) {
    if (find_variant(k, "cpu_highway")) cpu.push_back(&k);
  }
  // Headers: the templates the specs use and the argument structs, sorted.
  std::set<std::string> inl_headers, arg_headers;
  for (const auto* k : cpu) {
    inl_headers.insert(implementation(*k).header);
    arg_headers.insert(cpu_entry(implementation(*k).signature).args_header);
  }
  std::ostringstream inl;
  inl << "// Generated by trix-gen from specs/kernels/*.yaml. Do not edit.\n"
      << "// Per-target instantiations of the CPU kernels, one named function per\n"
      << "// kernel spec (HWY_EXPORT needs plain functions). Included once per target.\n"
      << "#if defined(TRIX_GENERATED_CPU_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)\n"
      << "#ifdef TRIX_GENERATED_CPU_KERNELS_INL_H_\n#undef TRIX_GENERATED_CPU_KERNELS_INL_H_\n"
      << "#else\n#define TRIX_GENERATED_CPU_KERNELS_INL_H_\n#endif\n\n"
      << "#include <cstddef>\n\n#include \"hwy/highway.h\"\n";
  for (const auto& h : inl_headers) inl << "#include \"" << h << "\"\n";
  for (const auto* k : cpu) inl << "#include \"trix/kernels/" << k->name << ".h\"\n";
  inl << "\nHWY_BEFORE_NAMESPACE();\nnamespace trix::cpu {\nnamespace HWY_NAMESPACE {\n\n";
  for (const auto* k : cpu) {
    const Implementation& impl = implementation(*k);
    inl << "// " << k->doc << " (" << k->file.substr(k->file.rfind('/') + 1) << ")\n"
        << "inline void " << k->name << "(" << cpu_entry(impl.signature).params << ") {\n"
        << "  " << replace_all(impl.call, "{name}", k->name) << ";\n"
        << "}\n\n";
  }
  inl << "}  // namespace HWY_NAMESPACE\n}  // namespace trix::cpu\nHWY_AFTER_NAMESPACE();\n\n"
      << "#endif  // TRIX_GENERATED_CPU_KERNELS_INL_H_\n";
  out["trix/cpu/kernels-inl.h"] = inl.str();

  // One entry point per kernel of `dispatch_kind`: `ranged` writes the
  // ranged overload (a declaration ending in ';' or an inline definition),
  // followed, unless `with_whole` is false, by the inline whole-range overload.
  auto entry_points = [&](std::ostringstream& o, const char* dispatch_kind, bool with_whole,
                          auto ranged) {
    for (const auto* k : cpu) {
      if (!has(find_variant(*k, "cpu_highway")->dispatch, dispatch_kind)) continue;
      const CpuEntry e = cpu_entry(implementation(*k).signature);
      const std::string params = e.params;
      ranged(o, *k, e);
      if (!with_whole) continue;
      o << "inline void " << k->name << "(" << params.substr(0, params.find(',')) << ") { " << k->name
        << "(" << e.whole << "); }\n\n";
    }
  };

  std::ostringstream dyn;
  dyn << "// Generated by trix-gen from specs/kernels/*.yaml. Do not edit.\n"
      << "// Dynamic dispatch: the entry point of every CPU kernel, which runs the\n"
      << "// best Highway target the running CPU supports (chosen on first call).\n"
      << "// Declarations only: the kernels are compiled for every target once per\n"
      << "// program, in trix/cpu/implementation.h.\n"
      << "#pragma once\n\n#include <cstddef>\n\n";
  std::set<std::string> dyn_headers = arg_headers;
  dyn_headers.insert("trix/formats/blocks.h");  // FormatId, for kRowGemvKernels
  for (const auto& h : dyn_headers) dyn << "#include \"" << h << "\"\n";
  dyn << "\nnamespace trix::cpu {\n\n";
  entry_points(dyn, "dynamic", true, [](std::ostringstream& o, const KernelSpec& k, const CpuEntry& e) {
    o << "// " << e.range_doc << " (" << k.name << ").\n"
      << "void " << k.name << "(" << e.params << ");\n";
  });
  // The row GEMVs as data: what the runtime's matmul (trix/runtime/matmul.h)
  // looks a stored weight format up in, so a format's kernel spec is all it
  // takes to route that format's projections to its kernel.
  dyn << "// The GEMV kernels that run a format's rows as stored (op gemv, layout\n"
      << "// ggml), one entry per kernel spec: the weight and activation formats,\n"
      << "// the rows one step of the kernel shares (its rows_per_step, else 1) and\n"
      << "// the ranged entry point above. trix/runtime/matmul.h routes a weight\n"
      << "// format to its kernel through this table.\n"
      << "struct RowGemvKernel {\n"
      << "  FormatId weights;\n"
      << "  FormatId activations;\n"
      << "  size_t rows_per_step;\n"
      << "  void (*run)(const GemvArgs& args, size_t begin, size_t end);\n"
      << "};\n\n"
      << "inline constexpr RowGemvKernel kRowGemvKernels[] = {\n";
  for (const auto* k : cpu) {
    if (k->op != "gemv" || k->layout != "ggml") continue;
    if (implementation(*k).signature != CpuSignature::kGemvArgs) continue;
    const VariantSpec* v = find_variant(*k, "cpu_highway");
    if (!has(v->dispatch, "dynamic")) continue;
    const auto step = v->params.find("rows_per_step");
    dyn << "    {FormatId::" << upper(k->weights) << ", FormatId::" << upper(k->activations) << ", "
        << (step == v->params.end() ? int64_t{1} : step->second) << ", &" << k->name << "},\n";
  }
  dyn << "};\n\n";
  dyn << "}  // namespace trix::cpu\n\n"
      << "// Every kernel above as X(name, (parameters of the ranged overload)), what\n"
      << "// trix/cpu/implementation.h defines the entry points from.\n"
      << "#define TRIX_CPU_KERNELS(X)";
  entry_points(dyn, "dynamic", false, [](std::ostringstream& o, const KernelSpec& k, const CpuEntry& e) {
    o << " \\\n  X(" << k.name << ", (" << e.params << "))";
  });
  dyn << "\n";
  out["trix/cpu/dispatch.h"] = dyn.str();

  std::ostringstream st;
  st << "// Generated by trix-gen from specs/kernels/*.yaml. Do not edit.\n"
     << "// Static dispatch: the kernels for the one target this translation unit is\n"
     << "// compiled for (-march), with no runtime CPU detection.\n"
     << "#pragma once\n\n#include <cstddef>\n\n#include \"hwy/highway.h\"\n"
     << "#include \"trix/cpu/kernels-inl.h\"\n";
  for (const auto& h : arg_headers) st << "#include \"" << h << "\"\n";
  st << "\nnamespace trix::cpu::static_target {\n\n";
  entry_points(st, "static", true, [&](std::ostringstream& o, const KernelSpec& k, const CpuEntry& e) {
    o << "// " << e.range_doc << " (" << k.name << ").\n"
      << "inline void " << k.name << "(" << e.params << ") {\n"
      << "  HWY_STATIC_DISPATCH(" << k.name << ")(args, begin, end);\n}\n\n";
  });
  st << "}  // namespace trix::cpu::static_target\n";
  out["trix/cpu/static_dispatch.h"] = st.str();
}

// The body's layout constants, as `prefix` NAME = value; lines, from the
// format specs (the one place that knows them).
std::string constants_text(const FormatSpec* wf, const FormatSpec* af, std::span<const BodyConstant> constants,
                           const std::string& prefix) {
  std::string out;
  for (const BodyConstant& c : constants) {
    const FormatSpec& f = c.activations ? *af : *wf;
    const int64_t value = c.field[0] ? field_offset(f, c.field) : f.block_bytes;
    out += prefix + " " + c.name + " = " + std::to_string(value) + ";\n";
  }
  return out;
}
std::string body_constants(const SpecSet& s, const KernelSpec& k, const DeviceBody& dev, const std::string& prefix) {
  return constants_text(&format(s, k.weights), &format(s, k.activations), dev.constants, prefix);
}

// What every .metal source starts with: the MSL spellings of what
// device_host.body.h gives C++ and CUDA.
std::string metal_prelude() {
  return "#include <metal_stdlib>\nusing namespace metal;\n\n"
         "#define TRIX_FN\n#define TRIX_GLOBAL device\n"
         "typedef uchar trix_u8;\ntypedef char trix_i8;\ntypedef ushort trix_u16;\ntypedef uint trix_u32;\ntypedef ulong trix_u64;\n"
         "inline float trix_f16_bits_to_f32(trix_u32 h) { return float(as_type<half>(ushort(h))); }\n"
         "inline float trix_bits_to_f32(trix_u32 u) { return as_type<float>(u); }\n"
         "inline trix_u32 trix_f32_to_bits(float f) { return as_type<uint>(f); }\n"
         "inline float trix_fma(float a, float b, float c) { return fma(a, b, c); }\n"
         "inline float trix_mul(float a, float b) { return a * b; }\n"
         "inline float trix_rint(float x) { return rint(x); }\n"
         "inline float trix_sqrt(float x) { return sqrt(x); }\n"
         "inline float trix_exp(float x) { return exp(x); }\n"
         "inline float trix_shfl_xor(float v, trix_u32 m) { return simd_shuffle_xor(v, ushort(m)); }\n"
         "#ifndef TRIX_THREAD\n#define TRIX_THREAD thread\n#endif\n";
}

// The lines that include one device body into a CUDA header's namespace.
// `extra`: definitions the body needs after the helpers.
std::string cuda_body_include(const std::string& constants, const std::string& body_path,
                              const std::string& extra = "") {
  return "#define TRIX_FN __host__ __device__\n#define TRIX_GLOBAL\n"
         "#include \"trix/kernels/device_host.body.h\"\n" + extra +
         constants + "#include \"" + body_path.substr(std::string("include/").size()) + "\"\n" +
         "#undef TRIX_GLOBAL\n#undef TRIX_FN\n";
}

// The device-common helpers and one body, pasted into a .metal source.
std::string metal_bodies(const std::string& root_dir, const std::string& body_path) {
  std::string out;
  for (const std::string& path : {std::string("include/trix/kernels/device_common.body.h"), body_path}) {
    out += "// ---- begin " + path + "\n" + read_text(root_dir + "/" + path) + "// ---- end " + path + "\n\n";
  }
  return out;
}

void emit_cuda(const SpecSet& s, const KernelSpec& k, const VariantSpec& v, FileMap& out) {
  const DeviceBody& dev = *implementation(k).device;
  const ContractCode code = contract_code(dev.contract);
  const std::string ns = k.name + "_body";
  std::ostringstream h;
  h << banner(k.file) << "// CUDA variant of " << k.name << " for";
  for (const auto& a : v.archs) h << " " << a;
  h << ". Without nvcc the kernel and\n// launcher run on the CPU grid emulator (trix/cuda/emulator.h).\n"
    << "#pragma once\n\n#include <cmath>\n#include <cstdint>\n\n#include \"trix/core/fp16.h\"\n#include \""
    << code.cuda_header << "\"\n#include \"trix/kernels/" << k.name << ".h\"\n\n"
    << "namespace trix::cuda::" << ns << " {\n\n"
    << cuda_body_include(body_constants(s, k, dev, "inline constexpr trix_u32"), dev.body) << "\n"
    << "// The body functions the launcher's kernel calls.\nstruct Body {\n"
    << "  static constexpr uint32_t kBlockElements = " << format(s, k.weights).block_elements << ";\n"
    << replace_all(code.body_struct, "{p}", dev.functions) << "};\n\n"
    << "}  // namespace trix::cuda::" << ns << "\n\nnamespace trix::cuda {\n\n"
    << "using " << k.name << "_config = kernels::" << k.name << "::Cuda;\n\n"
    << "// Launches y = W x on `stream`; all pointers are device pointers.\n"
    << "inline cudaError_t launch_" << k.name << "(const GemvArgs& args, cudaStream_t stream = 0) {\n"
    << "  return " << code.cuda_launcher << "<" << k.name << "_config, " << ns << "::Body>(args, stream);\n}\n\n"
    << "}  // namespace trix::cuda\n";
  out["trix/cuda/" + k.name + ".cuh"] = h.str();
}

void emit_metal(const SpecSet& s, const KernelSpec& k, const VariantSpec& v,
                const std::string& root_dir, FileMap& out) {
  const DeviceBody& dev = *implementation(k).device;
  const ContractCode code = contract_code(dev.contract);
  std::ostringstream m;
  m << banner(k.file) << "// Metal variant of " << k.name << ": " << k.doc << "\n"
    << "// " << code.threads_per_row << " threads per row (see DeviceContract in trix-gen); compile with\n"
    << "// fast math off so the explicit fma and products round as specified.\n"
    << metal_prelude() << body_constants(s, k, dev, "constant constexpr trix_u32")
    << "constant constexpr trix_u32 kBlockElements = " << format(s, k.weights).block_elements << ";\n\n";
  m << metal_bodies(root_dir, dev.body);
  m << "struct trix_gemv_params {\n  uint rows;\n  uint k;\n  ulong w_row_bytes;\n};\n\n"
    << "kernel void " << k.name << "(device const uchar* w [[buffer(0)]],\n"
    << "    device const uchar* x [[buffer(1)]],\n    device float* y [[buffer(2)]],\n"
    << "    constant trix_gemv_params& p [[buffer(3)]],\n"
    << "    uint tid [[thread_position_in_grid]]) {\n"
    << "  const uint row = tid / " << code.threads_per_row << "u;\n  const uint lane = tid % "
    << code.threads_per_row << "u;\n" << replace_all(code.metal_row, "{p}", dev.functions) << "}\n";
  const std::string metal = m.str();
  out["trix/metal/" + k.name + ".metal"] = metal;

  std::ostringstream h;
  h << banner(k.file) << "// Host side of the Metal variant of " << k.name
    << ": names, launch geometry and\n// the kernel source, from the same spec as the .metal file.\n"
    << "#pragma once\n\n#include <cstdint>\n\nnamespace trix::metal::" << k.name << " {\n\n"
    << "inline constexpr char kFunctionName[] = \"" << k.name << "\";\n"
    << "inline constexpr unsigned kThreadsPerThreadgroup = " << v.params.at("threads_per_threadgroup") << ";\n"
    << "inline constexpr unsigned kLanesPerRow = " << code.threads_per_row << ";\n"
    << "enum BufferIndex : unsigned { kWeights = 0, kActivations = 1, kOutput = 2, kParams = 3 };\n\n"
    << "// Same layout as trix_gemv_params in the .metal source.\n"
    << "struct Params {\n  uint32_t rows;\n  uint32_t k;\n  uint64_t w_row_bytes;\n};\n"
    << "static_assert(sizeof(Params) == 16);\n\n"
    << "// Threads to dispatch for `rows` rows, rounded up to whole threadgroups.\n"
    << "constexpr uint64_t grid_threads(uint64_t rows) {\n"
    << "  const uint64_t t = rows * kLanesPerRow;\n"
    << "  return (t + kThreadsPerThreadgroup - 1) / kThreadsPerThreadgroup * kThreadsPerThreadgroup;\n}\n\n"
    << "// The .metal source, for MTLDevice newLibraryWithSource (fastMathEnabled = NO).\n"
    << "inline constexpr char kSource[] = R\"trix_metal_src(" << metal << ")trix_metal_src\";\n\n"
    << "}  // namespace trix::metal::" << k.name << "\n";
  out["trix/metal/" + k.name + ".h"] = h.str();
}

// ------------------------------------------------------------ device ops

const DeviceOp& device_op(const KernelSpec& k) {
  const DeviceOp* op = find_device_op(k.op, k.format);
  if (!op) throw SpecError("internal: device op " + k.name + " lost its body after validation");
  return *op;
}

// C++ (host header, Args) and MSL spellings of an argument's element type.
const char* cpp_type(const std::string& t) {
  if (t == "f32") return "float";
  if (t == "f16") return "uint16_t";
  if (t == "i8") return "int8_t";
  if (t == "u8") return "uint8_t";
  if (t == "i32") return "int32_t";
  return "uint32_t";  // u32
}
const char* msl_type(const std::string& t) {
  if (t == "f32") return "float";
  if (t == "f16") return "ushort";
  if (t == "i8") return "char";
  if (t == "u8") return "uchar";
  if (t == "i32") return "int";
  return "uint";
}

// The op's items or rows as an expression, each {scalar} spelled prefix + name.
std::string op_count(const DeviceOp& op, const std::string& prefix, const std::string& suffix = "") {
  std::string out = op.count;
  for (const OpArg& a : op.args) out = replace_all(out, std::string("{") + a.name + "}", prefix + a.name + suffix);
  return out;
}

// The body call's arguments: buffers as buffer_prefix + name, scalars as
// scalar_prefix + name.
std::string op_call_args(const DeviceOp& op, const std::string& buffer_prefix, const std::string& scalar_prefix) {
  std::string out;
  for (const OpArg& a : op.args) {
    out += (out.empty() ? "" : ", ") + (std::string(a.role) == "scalar" ? scalar_prefix : buffer_prefix) + a.name;
  }
  return out;
}

// What one step of the contract covers.
const char* op_unit(const DeviceOp& op) {
  switch (op.contract) {
    case OpContract::kItems:
      return "item";
    case OpContract::kRowWarp:
      return "row";
    case OpContract::kWarp:
      return "task";
  }
  return "";
}

unsigned op_threads_per_item(const DeviceOp& op) { return op.contract == OpContract::kItems ? 1 : 32; }

// The per-thread code of each contract, with {p} the body's function prefix,
// {args} the call arguments, {count} the items or rows, {shfl_v} and
// {shfl_s} a xor shuffle of v and of s by mask m, and {u32} the unsigned type.
const char* op_contract_code(OpContract c) {
  switch (c) {
    case OpContract::kItems:
      return "  if (t < {count}) {p}_item({args}, {u32}(t));\n";
    case OpContract::kRowWarp:
      return "  // A whole warp / SIMD group per row: it returns (or not) as one.\n"
             "  const {u32} row = {u32}(t / 32u);\n"
             "  const {u32} lane = {u32}(t % 32u);\n"
             "  if (row >= {count}) return;\n"
             "  float v = {p}_partial({args}, row, lane);\n"
             "  for ({u32} m = 1u; m < 32u; m <<= 1u) v = {p}_combine(v, {shfl_v}, (lane & m) == 0u);\n"
             "  int s = {p}_finish({args}, row, lane, v);\n"
             "  for ({u32} m = 1u; m < 32u; m <<= 1u) s += {shfl_s};\n"
             "  if (lane == 0u) {p}_store({args}, row, v, s);\n";
    case OpContract::kWarp:
      return "  // A whole warp / SIMD group per task: it returns (or not) as one.\n"
             "  const {u32} task = {u32}(t / 32u);\n"
             "  if (task >= {count}) return;\n"
             "  {p}_warp({args}, task, {u32}(t % 32u));\n";
  }
  throw SpecError("internal: unknown op contract");
}

// shfl: the shuffle of X by mask m.
std::string op_contract_text(const DeviceOp& op, const std::string& prefix, const std::string& args,
                             const std::string& count, const std::string& shfl, const std::string& u32) {
  std::string out = op_contract_code(op.contract);
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"{p}", prefix + op.functions},
                                 {"{args}", args}, {"{count}", count}, {"{shfl_v}", replace_all(shfl, "X", "v")},
                                 {"{shfl_s}", replace_all(shfl, "X", "s")}, {"{u32}", u32}}) {
    out = replace_all(out, from, to);
  }
  return out;
}

const FormatSpec* op_format(const SpecSet& s, const KernelSpec& k) {
  return k.format.empty() ? nullptr : &format(s, k.format);
}

// The op body's layout constants (with the format's kBlockElements), as
// `prefix` NAME = value; lines.
std::string op_constants(const SpecSet& s, const KernelSpec& k, const std::string& prefix) {
  const FormatSpec* f = op_format(s, k);
  if (!f) return "";
  return prefix + " kBlockElements = " + std::to_string(f->block_elements) + ";\n" +
         constants_text(f, nullptr, device_op(k).constants, prefix);
}

void emit_op_spec_header(const SpecSet& s, const KernelSpec& k, FileMap& out) {
  const DeviceOp& op = device_op(k);
  std::ostringstream h;
  h << banner(k.file) << "// " << k.doc << "\n#pragma once\n\n#include <cstdint>\n\n"
    << "#include \"trix/kernels/accuracy.h\"\n\n"
    << "namespace trix::kernels::" << k.name << " {\n\n"
    << "inline constexpr char kName[] = \"" << k.name << "\";\n"
    << "inline constexpr char kOp[] = \"" << k.op << "\";\n";
  if (const FormatSpec* f = op_format(s, k)) {
    h << "// Layout the body reads or writes: " << f->name << ", " << f->block_elements << " elements in "
      << f->block_bytes << " bytes per block.\n"
      << "inline constexpr uint32_t kFormatBlockElements = " << f->block_elements << ";\n"
      << "inline constexpr uint32_t kFormatBlockBytes = " << f->block_bytes << ";\n";
  }
  h << "// The spec's accuracy contract against " << k.reference << "; tests demand it.\n"
    << "inline constexpr Accuracy kAccuracy = "
    << (k.accuracy == "bit_exact" ? std::string("Accuracy::bit_exact_contract()")
                                  : "Accuracy::tolerance(" + exact_double(k.tolerance_rel) + ")")
    << ";\n\n"
    << "// The kernel's arguments (device pointers and scalars), in the body's order.\nstruct Args {\n";
  for (const OpArg& a : op.args) {
    const std::string role = a.role;
    h << "  " << (role == "in" ? "const " : "") << cpp_type(a.type) << (role == "scalar" ? " " : "* ") << a.name
      << ";  // " << role << "\n";
  }
  h << "};\n\n"
    << "// Threads per " << op_unit(op) << " and the " << op_unit(op) << "s of a call.\n"
    << "inline constexpr unsigned kThreadsPerItem = " << op_threads_per_item(op) << ";\n"
    << "constexpr uint64_t count(const Args& a) { return " << op_count(op, "uint64_t{a.", "}") << "; }\n\n";
  if (const auto* v = find_variant(k, "cuda")) {
    h << "struct Cuda {\n";
    emit_params(h, *v, op.cuda_params);
    h << "};\n\n";
  }
  if (const auto* v = find_variant(k, "metal")) {
    h << "struct Metal {\n";
    emit_params(h, *v, op.metal_params);
    h << "};\n\n";
  }
  h << "}  // namespace trix::kernels::" << k.name << "\n";
  out["trix/kernels/" + k.name + ".h"] = h.str();
}

void emit_op_cuda(const SpecSet& s, const KernelSpec& k, const VariantSpec& v, FileMap& out) {
  const DeviceOp& op = device_op(k);
  const std::string ns = k.name + "_body";
  std::ostringstream h;
  h << banner(k.file) << "// CUDA variant of " << k.name << " for";
  for (const auto& a : v.archs) h << " " << a;
  h << ". Without nvcc the kernel and\n// launcher run on the CPU grid emulator (trix/cuda/emulator.h).\n"
    << "#pragma once\n\n#include <cmath>\n#include <cstdint>\n\n#include \"trix/core/fp16.h\"\n"
    << "#include \"trix/cuda/device.h\"\n#include \"trix/kernels/" << k.name << ".h\"\n\n"
    << "namespace trix::cuda::" << ns << " {\n\n"
    << cuda_body_include(op_constants(s, k, "inline constexpr trix_u32"), op.body,
                         "// v of lane `lane ^ m` in the warp (all 32 lanes take part).\n"
                         "TRIX_FN inline float trix_shfl_xor(float v, trix_u32 m) {\n"
                         "#if defined(__CUDA_ARCH__) || !defined(__CUDACC__)\n"
                         "  return __shfl_xor_sync(0xffffffffu, v, static_cast<int>(m));\n"
                         "#else\n  (void)m;\n  return v;  // nvcc's host pass of a __host__ __device__ function: never run\n"
                         "#endif\n}\n")
    << "\n}  // namespace trix::cuda::" << ns << "\n\nnamespace trix::cuda {\n\n"
    << "using " << k.name << "_config = kernels::" << k.name << "::Cuda;\n\n"
    << "// " << k.doc << "\ntemplate <class Config>\n"
    << "__global__ void __launch_bounds__(Config::kThreadsPerBlock) " << k.name
    << "_kernel(const kernels::" << k.name << "::Args a) {\n"
    << "  using " << ns << "::trix_u32;\n"
    << "  const uint64_t t = static_cast<uint64_t>(blockIdx.x) * Config::kThreadsPerBlock + threadIdx.x;\n"
    << op_contract_text(op, ns + "::", op_call_args(op, "a.", "a."), op_count(op, "a."),
                        "__shfl_xor_sync(0xffffffffu, X, static_cast<int>(m))", "trix_u32")
    << "}\n\n"
    << "// Launches " << k.name << " on `stream` with the block size of Config; all\n"
    << "// pointers are device pointers.\ntemplate <class Config>\n"
    << "inline cudaError_t launch_" << k.name << "_as(const kernels::" << k.name
    << "::Args& a, cudaStream_t stream = 0) {\n"
    << "  const uint64_t threads = kernels::" << k.name << "::count(a) * kernels::" << k.name
    << "::kThreadsPerItem;\n  if (threads == 0) return cudaSuccess;\n"
    << "  const auto blocks = static_cast<uint32_t>((threads + Config::kThreadsPerBlock - 1) / Config::kThreadsPerBlock);\n"
    << "  TRIX_CUDA_LAUNCH(blocks, Config::kThreadsPerBlock, 0, stream, " << k.name << "_kernel<Config>)(a);\n"
    << "  return cudaGetLastError();\n}\n\n"
    << "// The same with the spec's block size.\n"
    << "inline cudaError_t launch_" << k.name << "(const kernels::" << k.name
    << "::Args& a, cudaStream_t stream = 0) {\n"
    << "  return launch_" << k.name << "_as<" << k.name << "_config>(a, stream);\n}\n\n"
    << "}  // namespace trix::cuda\n";
  out["trix/cuda/" + k.name + ".cuh"] = h.str();
}

void emit_op_metal(const SpecSet& s, const KernelSpec& k, const VariantSpec& v, const std::string& root_dir,
                   FileMap& out) {
  const DeviceOp& op = device_op(k);
  std::ostringstream m;
  m << banner(k.file) << "// Metal variant of " << k.name << ": " << k.doc << "\n"
    << "// " << op_threads_per_item(op) << " thread(s) per " << op_unit(op)
    << " (see OpContract in trix-gen); compile with fast math off so\n"
    << "// products and sums round as specified.\n"
    << metal_prelude() << op_constants(s, k, "constant constexpr trix_u32")
    << "\n" << metal_bodies(root_dir, op.body);
  bool scalars = false;
  for (const OpArg& a : op.args) scalars = scalars || std::string(a.role) == "scalar";
  if (scalars) {
    m << "struct " << k.name << "_params {\n";
    for (const OpArg& a : op.args) {
      if (std::string(a.role) == "scalar") m << "  " << msl_type(a.type) << " " << a.name << ";\n";
    }
    m << "};\n\n";
  }
  m << "kernel void " << k.name << "(";
  unsigned index = 0;
  for (const OpArg& a : op.args) {
    const std::string role = a.role;
    if (role == "scalar") continue;
    m << "device " << (role == "in" ? "const " : "") << msl_type(a.type) << "* " << a.name << " [[buffer(" << index++
      << ")]],\n    ";
  }
  if (scalars) m << "constant " << k.name << "_params& p [[buffer(" << index << ")]],\n    ";
  m << "uint t [[thread_position_in_grid]]) {\n"
    << op_contract_text(op, "", op_call_args(op, "", "p."), op_count(op, "p."), "simd_shuffle_xor(X, ushort(m))",
                        "uint")
    << "}\n";
  const std::string metal = m.str();
  out["trix/metal/" + k.name + ".metal"] = metal;

  std::ostringstream h;
  h << banner(k.file) << "// Host side of the Metal variant of " << k.name
    << ": names, buffer indices, launch\n// geometry and the kernel source, from the same spec as the .metal file.\n"
    << "#pragma once\n\n#include <cstdint>\n\nnamespace trix::metal::" << k.name << " {\n\n"
    << "inline constexpr char kFunctionName[] = \"" << k.name << "\";\n"
    << "inline constexpr unsigned kThreadsPerThreadgroup = " << v.params.at("threads_per_threadgroup") << ";\n"
    << "inline constexpr unsigned kThreadsPerItem = " << op_threads_per_item(op) << ";\n"
    << "enum BufferIndex : unsigned {";
  index = 0;
  for (const OpArg& a : op.args) {
    if (std::string(a.role) == "scalar") continue;
    h << (index ? ", " : " ") << "k" << camel(a.name) << " = " << index;
    ++index;
  }
  if (scalars) h << ", kParams = " << index;
  h << " };\n\n";
  if (scalars) {
    h << "// Same layout as " << k.name << "_params in the .metal source.\nstruct Params {\n";
    unsigned n = 0;
    for (const OpArg& a : op.args) {
      if (std::string(a.role) == "scalar") {
        h << "  " << cpp_type(a.type) << " " << a.name << ";\n";
        ++n;
      }
    }
    h << "};\nstatic_assert(sizeof(Params) == " << 4 * n << ");\n\n";
  }
  h << "// Threads to dispatch for `count` " << op_unit(op) << "s"
    << ", rounded up to whole threadgroups.\n"
    << "constexpr uint64_t grid_threads(uint64_t count) {\n"
    << "  const uint64_t t = count * kThreadsPerItem;\n"
    << "  return (t + kThreadsPerThreadgroup - 1) / kThreadsPerThreadgroup * kThreadsPerThreadgroup;\n}\n\n"
    << "// The .metal source, for MTLDevice newLibraryWithSource (fastMathEnabled = NO).\n"
    << "inline constexpr char kSource[] = R\"trix_metal_src(" << metal << ")trix_metal_src\";\n\n"
    << "}  // namespace trix::metal::" << k.name << "\n";
  out["trix/metal/" + k.name + ".h"] = h.str();
}

}  // namespace

void emit_kernels(const SpecSet& specs, const std::string& root_dir, FileMap& out) {
  for (const auto& k : specs.kernels) {
    if (k.is_device_op()) {
      emit_op_spec_header(specs, k, out);
      if (const auto* v = find_variant(k, "cuda")) emit_op_cuda(specs, k, *v, out);
      if (const auto* v = find_variant(k, "metal")) emit_op_metal(specs, k, *v, root_dir, out);
      continue;
    }
    emit_spec_header(k, out);
    if (const auto* v = find_variant(k, "cuda")) emit_cuda(specs, k, *v, out);
    if (const auto* v = find_variant(k, "metal")) emit_metal(specs, k, *v, root_dir, out);
  }
  emit_cpu(specs, out);
}

}  // namespace trixgen
