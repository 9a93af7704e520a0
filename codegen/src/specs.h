// In-memory form of the three spec kinds, after validation. Emitters read
// only these structs, never YAML, so every check lives in the parsers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace trixgen {

struct FieldSpec {
  std::string name;
  std::string type;  // u8 i8 u16 i16 u32 i32 f16 bf16 f32
  int64_t count = 1;
  std::string doc;
  int64_t offset = 0;  // computed: byte offset in the block
};

struct PackingSpec {
  std::string kind = "none";  // none | ieee | strided_2bit | base3 | kquant
  int64_t bits = 0;
  int64_t group_bytes = 0;           // strided_2bit: bytes per group of 4*group_bytes codes
  std::string shift_order;           // strided_2bit: ascending | descending
  std::string doc;
};

struct FormatSpec {
  std::string file;
  std::string name;         // tq2_0
  std::string enum_name;    // TQ2_0 (derived)
  std::string description;
  std::string peer_project;
  int64_t peer_type_id = -1;
  std::string peer_type_name;
  int64_t block_elements = 0;
  int64_t block_bytes = 0;
  int64_t trailer_bytes = 0;
  std::vector<FieldSpec> fields;
  PackingSpec packing;
  std::vector<int64_t> values;  // code -> value; empty when not a code format
  std::string scale_rule;

  // The runtime's view of the format (trix/formats/traits.h), ggml's
  // type_traits. Function names are C++ names in namespace trix; "" = none.
  bool weights = true;        // roles: may hold model weights
  bool activations = false;   // roles: a matmul may quantize activations to it
  int64_t llama_file_type = -1;             // llama.cpp's LLAMA_FTYPE_* of a file "mostly" this format
  std::vector<std::string> codec_headers;   // default: trix/formats/<name>.h
  std::string quantize_row;                 // f32 -> whole blocks; default quantize_row_<name>
  std::string dequantize_row;               // blocks -> f32; default dequantize_row_<name>
  std::string quantize_rows_tensor_scale;   // per-tensor scale: rows x cols -> codes + trailer
  std::string tensor_scale;                 // per-tensor scale: reads it from a tensor's bytes
  std::string quantize_activations;         // one activation row (trailer included)
  std::string matmul_activations;           // format the reference matmul quantizes x to
  std::string matmul_dot;                   // reference dot of one weight row and one activation row
  std::string prepare = "none";             // none | huge_page_copy | packed4 (derived from kernels)
  std::vector<std::string> kernels;         // kernel specs that consume it (derived)
};

struct VariantSpec {
  std::string backend;  // cpu_highway | cuda | metal
  std::map<std::string, int64_t> params;
  std::vector<std::string> dispatch;  // cpu_highway: static, dynamic
  std::vector<std::string> archs;     // cuda: sm_80 ...
};

// One argument of a device op's body function (buffers and scalars in the
// body's parameter order), as a kernel spec lists it under `args`.
struct OpArgSpec {
  std::string name;
  std::string type;  // buffers: f32 f16 i8 u8 i32; scalars: u32 f32
  std::string role;  // in | out | inout (buffers) | scalar
};

struct KernelSpec {
  std::string file;
  std::string name;         // gemv_tq2_0_q8_k
  std::string op;           // gemv | gemm | a device op (rmsnorm, ...: the DeviceOp table)
  std::string layout = "ggml";  // weight layout the kernel reads: ggml (as stored) | packed4 (repacked at load)
  std::string weights;      // format name
  std::vector<std::string> prepared_from;  // other stored formats converted to `weights`' layout at load
  std::string activations;  // format name
  std::string output;       // f32
  std::string reference;    // C++ function of the scalar reference
  std::string accuracy;     // bit_exact | tolerance
  double tolerance_rel = 0;
  std::string doc;
  std::vector<VariantSpec> variants;
  // Device ops only (op neither gemv nor gemm): the format the op reads or
  // writes ("" if none) and the body's arguments.
  std::string format;
  std::vector<OpArgSpec> args;
  bool is_device_op() const { return op != "gemv" && op != "gemm"; }
};

struct ModelTensorSpec {
  std::string name;    // GGUF name pattern, "blk.{layer}.attn_q.weight"
  std::string role;    // attn_q, ...
  std::string format;  // format name or "any"
};

struct ModelSpec {
  std::string file;
  std::string name;          // stories260k
  std::string class_name;    // Stories260K
  std::string architecture;  // llama | bitnet-b1.58 | trix_sparse_lookup
  std::string doc;
  bool compile_time = false;
  std::string ffn;           // swiglu | relu2_gated | sparse_lookup
  std::string rope_style;    // adjacent | neox | learned (trix_sparse_lookup's position embedding)
  bool sub_norms = false;
  bool tied_output = false;
  // Hyper-parameters in file order, e.g. dim: 64.
  std::vector<std::pair<std::string, double>> hparams;
  std::vector<ModelTensorSpec> tensors;
};

struct SpecSet {
  std::vector<FormatSpec> formats;  // sorted by name
  std::vector<KernelSpec> kernels;  // sorted by name
  std::vector<ModelSpec> models;    // sorted by name
};

// A tuning parameter that an implementation really reads: its allowed
// values and the constant it becomes in the generated struct.
struct ParamRule {
  const char* name;      // spec key: rows_per_step
  const char* constant;  // generated constant: kRowsPerStep
  const char* type;      // C++ type of the constant: size_t, unsigned
  int64_t min, max, multiple_of;
  bool power_of_two;
  const char* doc;  // what the kernel does with it (a comment in the generated struct)
};

// A layout constant a device body reads, taken from a format spec so the
// C++/CUDA and Metal sides of the body see the same numbers: the block size
// (field "") or a field's byte offset in the kernel's weight or activation
// format.
struct BodyConstant {
  const char* name;   // kWBlockBytes
  bool activations;   // false: the weight format
  const char* field;  // "" for the block's bytes
};

// How a GEMV's device body splits a row across threads and combines them;
// each has one CUDA launcher template (trix/cuda/) and one Metal kernel
// shape (emit_kernels.cc), and names the body functions it calls by suffix:
enum class DeviceContract {
  // 16 threads per row; <prefix>_lane(w_row, x, k, lane) -> float, combined
  // by the lanes16 butterfly (trix/kernels/lanes16.h).
  kLanes16,
  // 16 threads per row; <prefix>_lane_isum(w_row, x, k, lane) -> int, an
  // exact integer sum (any order), then <prefix>_finish(isum, x, k) -> float.
  kIntLanes16,
  // One 32-thread warp / SIMD group per row; thread j computes block
  // base + j's <prefix>_block_isum(w_row, x, b) and _block_scale, then every
  // thread runs the row's fma chain over the blocks in order (a shuffle
  // broadcasts each block's terms), as a block-sequential CPU dot does.
  kBlockSequential,
};

// A device body shared by the GPU backends (CUDA, Metal): plain-C functions
// of the kernel's contract (trix/kernels/*.body.h, in the subset of C++
// that CUDA and MSL share) and the layout constants they read.
struct DeviceBody {
  const char* body;       // path from the repository root
  const char* functions;  // prefix of the body's functions (see DeviceContract)
  DeviceContract contract;
  std::span<const BodyConstant> constants;
  std::span<const ParamRule> cuda_params;
  std::span<const ParamRule> metal_params;
};

// How a device op (not a GEMV) splits its work across threads; each has one
// CUDA kernel shape and one Metal kernel shape (emit_kernels.cc). The body
// functions are named <prefix>_<suffix> and take the op's arguments in
// order, then the values below.
enum class OpContract {
  // One thread per item i < count: <prefix>_item(args..., i).
  kItems,
  // One 32-thread warp / SIMD group per row < count. Thread `lane` computes
  // v = <prefix>_partial(args..., row, lane); a butterfly over masks 1, 2,
  // .., 16 combines v = <prefix>_combine(v, other, first) (first: v comes
  // from the lower lanes; the body makes combine(a, b, true) ==
  // combine(b, a, false) so every lane ends with the same total). Then
  // s = <prefix>_finish(args..., row, lane, total) -> int is summed exactly
  // over the warp and lane 0 calls <prefix>_store(args..., row, total, s).
  kRowWarp,
  // One 32-thread warp / SIMD group per task < count, all its lanes calling
  // <prefix>_warp(args..., task, lane), which may shuffle (trix_shfl_xor).
  kWarp,
};

// One argument of a device op's body (see OpArgSpec).
struct OpArg {
  const char* name;
  const char* type;
  const char* role;
};

// A device op: a body shared by CUDA and Metal and the interface trix-gen
// checks a spec's `args` against.
struct DeviceOp {
  const char* op;          // rmsnorm
  const char* format;      // the format whose layout the body reads or writes ("" if none)
  const char* body;        // path from the repository root
  const char* functions;   // prefix of the body's functions
  OpContract contract;
  const char* count;       // items or rows, over scalar args: "{n_heads} * ({head_dim} / 2)"
  std::span<const OpArg> args;
  std::span<const BodyConstant> constants;  // read from `format` (BodyConstant::activations unused)
  std::span<const ParamRule> cuda_params;
  std::span<const ParamRule> metal_params;
};
// The device op for (op, format), or nullptr.
const DeviceOp* find_device_op(const std::string& op, const std::string& format);
// "rmsnorm, rope_adjacent, embedding (f16), ..." for error messages.
std::string device_op_list();
// Reads a device op's variant params (as check_kernel_params does).
void check_op_params(KernelSpec& k, const class SpecNode& root, const DeviceOp& op);

// A hand-written CPU kernel template that a kernel spec can instantiate
// (the table lives in generator.cc). `call` is the body of the generated
// per-target function, with {name} replaced by the kernel's name.
enum class CpuSignature {
  kGemvArgs,  // (const GemvArgs& args, size_t row_begin, size_t row_end)
  kPacked,    // (const PackedMatmulArgs& args, size_t group_begin, size_t group_end)
};
struct Implementation {
  const char* op;
  const char* weights;
  const char* activations;
  const char* layout;
  const char* header;  // the -inl.h holding the template; nullptr: GPU variants only
  const char* call;
  CpuSignature signature;
  std::span<const ParamRule> cpu_params;  // what the template reads; nothing else is accepted
  const char* param_note;                 // why a parameter is absent (layout constants), or ""
  std::span<const char* const> prepared_from;  // formats prepare_weight converts to this layout
  const DeviceBody* device;               // nullptr: no GPU variant possible
};
// The implementation of (op, weights, activations, layout), or nullptr.
const Implementation* find_implementation(const std::string& op, const std::string& weights,
                                          const std::string& activations, const std::string& layout);
// "gemv tq2_0 x q8_k, ..." for error messages.
std::string implemented_list();
// Every implementation, in table order.
std::vector<const Implementation*> implementations();
// "op weights x activations (layout)" of one implementation.
std::string describe(const Implementation& impl);

// Parsers: throw SpecError naming file:line:col.
FormatSpec parse_format(const class SpecNode& root);
KernelSpec parse_kernel(const class SpecNode& root);
// Checks each variant's params against what `impl` (and its device body)
// reads and fills VariantSpec::params; root is the kernel spec's root node.
void check_kernel_params(KernelSpec& k, const class SpecNode& root, const Implementation& impl);
ModelSpec parse_model(const class SpecNode& root);

// Loads every *.yaml under specs_dir (formats/, kernels/, models/), checks
// cross references (kernel formats exist, known implementations).
SpecSet load_specs(const std::string& specs_dir);
// Every *.yaml under each folder, as one set (a test adds its toy format to
// the repository's specs this way).
SpecSet load_specs(const std::vector<std::string>& specs_dirs);
// Same, from in-memory texts (file name -> YAML); used by tests.
SpecSet load_spec_texts(const std::vector<std::pair<std::string, std::string>>& files);

// Emission: path relative to the output root -> file contents.
using FileMap = std::map<std::string, std::string>;
void emit_formats(const SpecSet& specs, FileMap& out);
void emit_kernels(const SpecSet& specs, const std::string& root_dir, FileMap& out);
void emit_models(const SpecSet& specs, FileMap& out);
FileMap generate(const SpecSet& specs, const std::string& root_dir);

// Shared by emitters.
std::string banner(const std::string& spec_file, const std::string& comment = "//");
std::string upper(const std::string& s);
std::string camel(const std::string& s);  // stories260k -> Stories260k
}  // namespace trixgen
