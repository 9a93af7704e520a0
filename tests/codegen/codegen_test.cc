// trix-gen: malformed specs give file:line:col errors naming what was
// expected; output is deterministic and follows the specs; the checked-in
// generated/ is what the specs produce.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex.h>
#include <span>
#include <string>
#include <vector>

#include "common/files.h"
#include "spec_reader.h"
#include "specs.h"

namespace trixgen {
namespace {

const char* kFormatTq2 = R"(spec: format
version: 1
name: tq2_0
description: ternary
peer: {project: ggml, type_id: 35}
block: {elements: 256, bytes: 66}
fields:
  - {name: qs, type: u8, count: 64}
  - {name: d, type: f16}
packing: {kind: strided_2bit, bits: 2, group_bytes: 32, shift_order: ascending}
values: [-1, 0, 1]
matmul: {activations: q8_k}
)";

const char* kFormatQ8k = R"(spec: format
version: 1
name: q8_k
description: activations
peer: {project: ggml, type_id: 15}
block: {elements: 256, bytes: 292}
fields:
  - {name: d, type: f32}
  - {name: qs, type: i8, count: 256}
  - {name: bsums, type: i16, count: 16}
packing: {kind: none}
roles: [activations]
)";

const char* kKernel = R"(spec: kernel
version: 1
name: gemv_tq2_0_q8_k
description: gemv
op: gemv
weights: tq2_0
activations: q8_k
output: f32
reference: ref
accuracy: {kind: bit_exact}
variants:
  - backend: cpu_highway
    dispatch: [static, dynamic]
    params: {rows_per_step: 4}
  - backend: cuda
    archs: [sm_80]
    params: {threads_per_block: 128}
)";

const char* kModel = R"(spec: model
version: 1
name: tiny
class_name: Tiny
architecture: llama
description: tiny
graph: {ffn: swiglu, rope: adjacent, sub_norms: false, tied_output: true}
hparams: {dim: 64, ffn_dim: 172, n_layers: 2, n_heads: 8, n_kv_heads: 4, vocab: 512, context: 64, rope_theta: 10000, rms_eps: 1e-5}
tensors:
  - {name: token_embd.weight, role: token_embd, format: any}
)";

// Whole-string POSIX extended regex match (std::regex trips GCC 12 warnings).
bool full_match(const std::string& text, const std::string& pattern) {
  regex_t re;
  if (regcomp(&re, ("^(" + pattern + ")$").c_str(), REG_EXTENDED | REG_NOSUB) != 0) {
    ADD_FAILURE() << "bad test regex: " << pattern;
    return false;
  }
  const bool ok = regexec(&re, text.c_str(), 0, nullptr, 0) == 0;
  regfree(&re);
  return ok;
}

using Files = std::vector<std::pair<std::string, std::string>>;

Files valid_set() {
  return {{"specs/formats/tq2_0.yaml", kFormatTq2},
          {"specs/formats/q8_k.yaml", kFormatQ8k},
          {"specs/kernels/gemv.yaml", kKernel},
          {"specs/models/tiny.yaml", kModel}};
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << "test setup: '" << from << "' not in spec";
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

// Replaces text in one file of the valid set and returns the error message.
std::string error_for(const std::string& file, const std::string& from, const std::string& to,
                      const char* from2 = nullptr, const char* to2 = nullptr) {
  Files files = valid_set();
  for (auto& [name, text] : files) {
    if (name == file) text = replace(text, from, to);
    if (name == file && from2) text = replace(text, from2, to2);
  }
  try {
    load_spec_texts(files);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(no error)";
}

struct Malformed {
  const char* what;
  const char* file;
  const char* from;
  const char* to;
  const char* expected;  // regex the whole message must match
  const char* from2 = nullptr;  // an optional second replacement in the same file
  const char* to2 = nullptr;
};

const Malformed kMalformed[] = {
    {"unknown top-level key", "specs/formats/tq2_0.yaml", "values:", "valuez:",
     R"(specs/formats/tq2_0\.yaml:11:1: error: unknown key 'valuez' \(expected one of: spec, version, .*\))"},
    {"missing required key", "specs/formats/tq2_0.yaml", "description: ternary\n", "",
     R"(specs/formats/tq2_0\.yaml:1:1: error: missing required key 'description')"},
    {"wrong version", "specs/formats/tq2_0.yaml", "version: 1", "version: 2",
     R"(specs/formats/tq2_0\.yaml:2:10: error \(version\): expected an integer in \[1, 1\], found 2)"},
    {"field sizes disagree with block bytes", "specs/formats/tq2_0.yaml", "count: 64", "count: 62",
     R"(specs/formats/tq2_0\.yaml:8:3: error \(fields\): fields add up to 64 bytes but block.bytes is 66)"},
    {"misaligned field", "specs/formats/tq2_0.yaml", "count: 64", "count: 63",
     R"(specs/formats/tq2_0\.yaml:9:5: error \(fields\[1\]\): field 'd' of type f16 would start at byte 63, not a multiple of 2 \(reorder the fields so the struct needs no padding\))"},
    {"unknown field type", "specs/formats/tq2_0.yaml", "type: f16", "type: f8",
     R"(specs/formats/tq2_0\.yaml:9:21: error \(fields\[1\]\.type\): expected one of: u8, i8, .*; found 'f8')"},
    {"group does not divide block", "specs/formats/tq2_0.yaml", "group_bytes: 32", "group_bytes: 48",
     R"(.*tq2_0\.yaml:10:.*: error \(packing.group_bytes\): a group of 48 bytes holds 192 codes, which does not divide block.elements 256)"},
    {"kernel names an unknown format", "specs/kernels/gemv.yaml", "weights: tq2_0", "weights: tq3_0",
     R"(specs/kernels/gemv\.yaml:6:10: error \(weights\): unknown format 'tq3_0' \(formats in specs/formats: q8_k, tq2_0\))"},
    {"unknown backend parameter", "specs/kernels/gemv.yaml", "rows_per_step: 4", "rows_per_stp: 4",
     R"(specs/kernels/gemv\.yaml:14:14: error \(variants\[0\]\.params\): 'rows_per_stp' is not used by the cpu_highway kernel for gemv tq2_0 x q8_k in trix/cpu/gemv_ternary-inl\.h \(it accepts: rows_per_step\))"},
    {"parameter out of range", "specs/kernels/gemv.yaml", "threads_per_block: 128", "threads_per_block: 100",
     R"(specs/kernels/gemv\.yaml:17:33: error \(variants\[1\]\.params\.threads_per_block\): parameter threads_per_block must be a multiple of 32, found 100)"},
    {"unimplemented combination", "specs/kernels/gemv.yaml", "activations: q8_k", "activations: tq2_0",
     R"(specs/kernels/gemv\.yaml:5:5: error \(op\): no kernel template implements gemv tq2_0 x tq2_0 \(implemented: gemv tq2_0 x q8_k, gemv tq2_0 x q8_k \(packed4\), gemm tq2_0 x q8_k \(packed4\), gemv q8_0 x q8_0, gemv f16 x f32, gemv q6_k x q8_k, gemv q4_k x q8_k, gemv q5_k x q8_k, gemv q4_0 x q8_0, gemv i2_s x i8_s \(packed4\), gemm i2_s x i8_s \(packed4\), gemv i2_s x i8_s\))"},
    // Parameters are those the implementation reads (issue 10 item 4).
    {"parameter the packed4 GEMV ignores", "specs/kernels/gemv.yaml", "op: gemv\n", "op: gemv\nlayout: packed4\n",
     R"(specs/kernels/gemv\.yaml:15:14: error \(variants\[0\]\.params\): 'rows_per_step' is not used by the cpu_highway kernel for gemv tq2_0 x q8_k \(packed4\) in trix/cpu/ternary_packed-inl\.h \(it accepts no parameters; the packed4 layout's 4 rows per group are a layout constant \(kPackedRows\), not a parameter\))"},
    {"parameter the packed4 GEMM ignores", "specs/kernels/gemv.yaml", "op: gemv\n", "op: gemm\nlayout: packed4\n",
     R"(specs/kernels/gemv\.yaml:15:14: error \(variants\[0\]\.params\): 'rows_per_step' is not used by the cpu_highway kernel for gemm tq2_0 x q8_k \(packed4\) in trix/cpu/ternary_packed-inl\.h \(it accepts: tokens_per_tile, l1_act_tile_bytes, l2_code_chunk_bytes; the packed4 layout's 4 rows per group are a layout constant \(kPackedRows\), not a parameter\))"},
    {"missing cache budget", "specs/kernels/gemv.yaml", "op: gemv\n", "op: gemm\nlayout: packed4\n",
     R"(specs/kernels/gemv\.yaml:15:13: error \(variants\[0\]\.params\): missing parameter 'l1_act_tile_bytes' \(the cpu_highway kernel for gemm tq2_0 x q8_k \(packed4\) in trix/cpu/ternary_packed-inl\.h reads: tokens_per_tile, l1_act_tile_bytes, l2_code_chunk_bytes\))",
     "rows_per_step: 4", "tokens_per_tile: 8"},
    {"tokens per tile not a power of two", "specs/kernels/gemv.yaml", "op: gemv\n", "op: gemm\nlayout: packed4\n",
     R"(specs/kernels/gemv\.yaml:15:31: error \(variants\[0\]\.params\.tokens_per_tile\): parameter tokens_per_tile must be a power of two, found 12)",
     "rows_per_step: 4", "tokens_per_tile: 12, l1_act_tile_bytes: 36864, l2_code_chunk_bytes: 524288"},
    {"cuda variant on a kernel without a device body", "specs/kernels/gemv.yaml", "op: gemv\n", "op: gemv\nlayout: packed4\n",
     R"(specs/kernels/gemv\.yaml:15:14: error \(variants\[1\]\.backend\): backend cuda needs a device body and gemv tq2_0 x q8_k \(packed4\) has none \(kernels with one: gemv tq2_0 x q8_k \(include/trix/kernels/gemv_tq2_0_q8_k\.body\.h\), gemv q8_0 x q8_0 \(include/trix/kernels/gemv_q8_0_q8_0\.body\.h\), gemv f16 x f32 \(include/trix/kernels/gemv_f16_f32\.body\.h\), gemv q6_k x q8_k \(include/trix/kernels/gemv_q6_k_q8_k\.body\.h\), gemv q4_k x q8_k \(include/trix/kernels/gemv_q4_k_q8_k\.body\.h\), gemv i2_s x i8_s \(include/trix/kernels/gemv_i2_s_i8_s\.body\.h\)\); use cpu_highway)",
     "    params: {rows_per_step: 4}\n", ""},
    {"prepared_from a format no preparation converts", "specs/kernels/gemv.yaml", "weights: tq2_0\n",
     "weights: tq2_0\nprepared_from: [q8_k]\n",
     R"(specs/kernels/gemv\.yaml:7:17: error \(prepared_from\[0\]\): prepare_weight does not convert q8_k for gemv tq2_0 x q8_k \(it converts: nothing\))"},
    {"cuda variant without archs", "specs/kernels/gemv.yaml", "    archs: [sm_80]\n", "",
     R"(specs/kernels/gemv\.yaml:15:5: error \(variants\[1\]\): missing required key 'archs' .*)"},
    {"spec in the wrong folder", "specs/models/tiny.yaml", "spec: model", "spec: kernel",
     R"(specs/models/tiny\.yaml:1:7: error \(spec\): a 'kernel' spec does not belong in the models/ folder.*)"},
    {"heads do not divide dim", "specs/models/tiny.yaml", "n_heads: 8", "n_heads: 7",
     R"(specs/models/tiny\.yaml:8:.*: error \(hparams\.n_heads\): dim must be a multiple of n_heads)"},
    {"bitnet without sub norms", "specs/models/tiny.yaml", "architecture: llama", "architecture: bitnet-b1.58",
     R"(specs/models/tiny\.yaml:7:8: error \(graph\): architecture bitnet-b1.58 needs sub_norms: true and ffn: relu2_gated)"},
    {"trix_sparse_lookup with a llama graph", "specs/models/tiny.yaml", "architecture: llama",
     "architecture: trix_sparse_lookup",
     R"(specs/models/tiny\.yaml:7:[0-9]+: error \(graph[^)]*\): unknown key '(ffn|rope|sub_norms)' \(expected one of: attention, ffn, positions, tied_output\))"},
    {"invalid YAML", "specs/formats/q8_k.yaml", "block: {elements: 256, bytes: 292}", "block: {elements: 256, bytes: 292",
     R"(specs/formats/q8_k\.yaml:[0-9]+:[0-9]+: error: invalid YAML: .*)"},
    {"duplicate key", "specs/formats/q8_k.yaml", "version: 1\n", "version: 1\nversion: 1\n",
     R"(specs/formats/q8_k\.yaml:3:1: error: duplicate key 'version')"},
    {"not an integer", "specs/formats/q8_k.yaml", "bytes: 292", "bytes: many",
     R"(specs/formats/q8_k\.yaml:6:.*: error \(block\.bytes\): expected an integer in \[1, 1048576\], found 'many')"},
    // Traits (trix/formats/traits.h): roles, codec, matmul, prepare.
    {"matmul activations not an activation format", "specs/formats/tq2_0.yaml", "matmul: {activations: q8_k}",
     "matmul: {activations: tq2_0}",
     R"(specs/formats/tq2_0\.yaml:12:23: error \(matmul\.activations\): 'tq2_0' is not a format with the activations role \(formats with it: q8_k\))"},
    {"kernel consumes a format without a reference matmul", "specs/formats/tq2_0.yaml",
     "matmul: {activations: q8_k}\n", "",
     R"(specs/formats/tq2_0\.yaml:1:1: error: kernel gemv_tq2_0_q8_k \(specs/kernels/gemv\.yaml\) runs tq2_0 weights with q8_k activations, but the format's reference matmul is missing \(add matmul: \{activations: q8_k\}\))"},
    {"role listed twice", "specs/formats/q8_k.yaml", "roles: [activations]", "roles: [activations, activations]",
     R"(specs/formats/q8_k\.yaml:12:22: error \(roles\[1\]\): role 'activations' is listed twice)"},
    {"file type of an activation format", "specs/formats/q8_k.yaml", "roles: [activations]",
     "roles: [activations]\nllama_file_type: 3",
     R"(specs/formats/q8_k\.yaml:13:18: error \(llama_file_type\): llama_file_type names a file of weights, but roles has no 'weights')"},
    {"per-tensor scale next to a row quantizer", "specs/formats/tq2_0.yaml", "matmul:",
     "codec: {tensor_scale: {quantize: q, scale: s}}\nmatmul:",
     R"(specs/formats/tq2_0\.yaml:12:23: error \(codec\.tensor_scale\): a format with a per-tensor scale has no row quantizer: set codec\.quantize: none)"},
    {"unknown codec key", "specs/formats/tq2_0.yaml", "matmul:", "codec: {quantise: q}\nmatmul:",
     R"(specs/formats/tq2_0\.yaml:12:9: error \(codec\): unknown key 'quantise' \(expected one of: headers, quantize, dequantize, tensor_scale, activations\))"},
    {"activation rows with a trailer need a named quantizer", "specs/formats/q8_k.yaml",
     "block: {elements: 256, bytes: 292}", "block: {elements: 256, bytes: 292, trailer_bytes: 4}",
     R"(specs/formats/q8_k\.yaml:1:1: error: activation rows carry a 4-byte trailer: name their quantizer in codec\.activations)"},
    {"prepare without a matmul", "specs/formats/q8_k.yaml", "roles: [activations]",
     "roles: [activations]\nprepare: huge_page_copy",
     R"(specs/formats/q8_k\.yaml:13:10: error \(prepare\): prepare applies to weights the runtime multiplies: add 'matmul')"},
    {"unknown preparation", "specs/formats/tq2_0.yaml", "matmul: {activations: q8_k}",
     "matmul: {activations: q8_k}\nprepare: packed4",
     R"(specs/formats/tq2_0\.yaml:13:10: error \(prepare\): expected one of: none, huge_page_copy; found 'packed4')"},
};

TEST(CodegenErrors, ValidSetLoads) {
  const SpecSet set = load_spec_texts(valid_set());
  EXPECT_EQ(set.formats.size(), 2u);
  EXPECT_EQ(set.kernels.size(), 1u);
  EXPECT_EQ(set.models.size(), 1u);
}

TEST(CodegenErrors, EachMalformedSpecNamesWhereAndWhat) {
  ASSERT_GE(std::size(kMalformed), 10u);
  for (const auto& m : kMalformed) {
    const std::string msg = error_for(m.file, m.from, m.to, m.from2, m.to2);
    EXPECT_TRUE(full_match(msg, m.expected)) << m.what << "\n  got:      " << msg
                                                               << "\n  expected: " << m.expected;
  }
}

// ---- device ops (not GEMVs): the DeviceOp table decides what exists.

const char* kOpRmsNorm = R"(spec: kernel
version: 1
name: rmsnorm_x
description: rmsnorm
op: rmsnorm
args:
  - {name: x, type: f32, role: in}
  - {name: w, type: f32, role: in}
  - {name: out, type: f32, role: out}
  - {name: n, type: u32, role: scalar}
  - {name: eps, type: f32, role: scalar}
  - {name: rows, type: u32, role: scalar}
reference: ref
accuracy: {kind: tolerance, rel: 1e-5}
variants:
  - backend: cuda
    archs: [sm_80]
    params: {threads_per_block: 64}
  - backend: metal
    params: {threads_per_threadgroup: 96}
)";

const char* kOpQuantize = R"(spec: kernel
version: 1
name: quantize_x
description: quantize
op: quantize
format: q8_k
args:
  - {name: x, type: f32, role: in}
  - {name: y, type: u8, role: out}
  - {name: blocks, type: u32, role: scalar}
reference: ref
accuracy: {kind: bit_exact}
variants:
  - backend: cuda
    archs: [sm_90]
    params: {threads_per_block: 32}
)";

Files op_set() {
  Files files = valid_set();
  files.emplace_back("specs/kernels/rmsnorm.yaml", kOpRmsNorm);
  files.emplace_back("specs/kernels/quantize.yaml", kOpQuantize);
  return files;
}

std::string op_error_for(const std::string& file, const std::string& from, const std::string& to) {
  Files files = op_set();
  for (auto& [name, text] : files) {
    if (name == file) text = replace(text, from, to);
  }
  try {
    load_spec_texts(files);
  } catch (const SpecError& e) {
    return e.what();
  }
  return "(no error)";
}

const Malformed kMalformedOps[] = {
    {"unknown device op", "specs/kernels/rmsnorm.yaml", "op: rmsnorm", "op: layernorm",
     R"(specs/kernels/rmsnorm\.yaml:5:5: error \(op\): no device body implements op layernorm \(ops: gemv, gemm; device ops: add, swiglu, relu2_gate, rope_adjacent, rope_neox, rmsnorm, quantize \(q8_k\), quantize \(i8_s\), attention_decode, attention_combine, attention_prefill, embedding \(f32\), embedding \(f16\), embedding \(q8_0\), embedding \(q6_k\)\))"},
    {"device op without its format", "specs/kernels/quantize.yaml", "format: q8_k\n", "",
     R"(specs/kernels/quantize\.yaml:5:5: error \(op\): no device body implements op quantize \(ops: gemv, gemm; device ops: .*\))"},
    {"device op with a format it has no body for", "specs/kernels/quantize.yaml", "format: q8_k", "format: tq2_0",
     R"(specs/kernels/quantize\.yaml:5:5: error \(op\): no device body implements op quantize with format tq2_0 .*)"},
    {"device op naming an unknown format", "specs/kernels/quantize.yaml", "format: q8_k", "format: q9_k",
     R"(specs/kernels/quantize\.yaml:6:9: error \(format\): unknown format 'q9_k' .*)"},
    {"args other than the body's", "specs/kernels/rmsnorm.yaml", "{name: eps, type: f32", "{name: eps, type: u32",
     R"(specs/kernels/rmsnorm\.yaml:7:3: error \(args\): the body include/trix/kernels/rmsnorm\.body\.h of rmsnorm takes args: \[\{name: x, type: f32, role: in\}, \{name: w, type: f32, role: in\}, \{name: out, type: f32, role: out\}, \{name: n, type: u32, role: scalar\}, \{name: eps, type: f32, role: scalar\}, \{name: rows, type: u32, role: scalar\}\])"},
    {"args in another order", "specs/kernels/quantize.yaml", "  - {name: x, type: f32, role: in}\n  - {name: y, type: u8, role: out}",
     "  - {name: y, type: u8, role: out}\n  - {name: x, type: f32, role: in}",
     R"(specs/kernels/quantize\.yaml:.*: error \(args\): the body include/trix/kernels/quantize_q8_k\.body\.h of quantize takes args: .*)"},
    {"cpu_highway variant of a device op", "specs/kernels/rmsnorm.yaml", "  - backend: metal\n",
     "  - backend: cpu_highway\n    dispatch: [dynamic]\n  - backend: metal\n",
     R"(specs/kernels/rmsnorm\.yaml:19:14: error \(variants\[1\]\.backend\): device op rmsnorm has no generated cpu_highway kernel \(the CPU op is in trix/cpu/ops\.h\); use cuda or metal)"},
    {"GEMV keys on a device op", "specs/kernels/rmsnorm.yaml", "op: rmsnorm\n", "op: rmsnorm\nweights: tq2_0\n",
     R"(specs/kernels/rmsnorm\.yaml:6:10: error \(weights\): 'weights' only applies to ops gemv and gemm \(device ops list args\))"},
    {"device op keys on a GEMV", "specs/kernels/gemv.yaml", "op: gemv\n", "op: gemv\nformat: q8_k\n",
     R"(specs/kernels/gemv\.yaml:6:9: error \(format\): 'format' only applies to device ops, not gemv)"},
    {"device op block size not whole warps", "specs/kernels/rmsnorm.yaml", "threads_per_block: 64", "threads_per_block: 48",
     R"(specs/kernels/rmsnorm\.yaml:.*: error \(variants\[0\]\.params\.threads_per_block\): parameter threads_per_block must be a multiple of 32, found 48)"},
    {"device op parameter nothing reads", "specs/kernels/rmsnorm.yaml", "threads_per_block: 64", "rows_per_step: 4",
     R"(specs/kernels/rmsnorm\.yaml:.*: error \(variants\[0\]\.params\): 'rows_per_step' is not used by the cuda kernel for device op rmsnorm in include/trix/kernels/rmsnorm\.body\.h \(it accepts: threads_per_block\))"},
    {"argument listed twice", "specs/kernels/quantize.yaml", "{name: blocks,", "{name: x,",
     R"(specs/kernels/quantize\.yaml:.*: error \(args\[2\]\.name\): argument x is listed twice)"},
};

TEST(CodegenErrors, EachMalformedDeviceOpSpecNamesWhereAndWhat) {
  EXPECT_EQ(load_spec_texts(op_set()).kernels.size(), 3u);
  for (const auto& m : kMalformedOps) {
    const std::string msg = op_error_for(m.file, m.from, m.to);
    EXPECT_TRUE(full_match(msg, m.expected)) << m.what << "\n  got:      " << msg
                                                               << "\n  expected: " << m.expected;
  }
}

TEST(CodegenErrors, DuplicateFormatNames) {
  Files files = valid_set();
  files.emplace_back("specs/formats/tq2_0_again.yaml", kFormatTq2);
  try {
    load_spec_texts(files);
    FAIL() << "duplicate format accepted";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("format 'tq2_0' is already defined in specs/formats/tq2_0.yaml"),
              std::string::npos) << e.what();
  }
}

std::string repo_root() { return TRIX_SOURCE_DIR; }

using trix::test::read_text;

// A cpu_highway variant on an implementation that exists for the GPUs only
// (I2_S rows as stored; the CPU runs I2_S repacked to packed4).
TEST(CodegenErrors, CpuVariantOfAGpuOnlyKernel) {
  Files files = valid_set();
  for (const char* f : {"i2_s", "i8_s"}) {
    files.emplace_back(std::string("specs/formats/") + f + ".yaml",
                       read_text(repo_root() + "/specs/formats/" + f + ".yaml"));
  }
  std::string i2s = replace(kKernel, "name: gemv_tq2_0_q8_k", "name: gemv_i2_s_i8_s");
  i2s = replace(i2s, "weights: tq2_0\nactivations: q8_k", "weights: i2_s\nactivations: i8_s");
  files.emplace_back("specs/kernels/gemv_i2_s.yaml", i2s);
  try {
    load_spec_texts(files);
    FAIL() << "cpu_highway variant of a GPU-only kernel accepted";
  } catch (const SpecError& e) {
    EXPECT_EQ(std::string(e.what()),
              "specs/kernels/gemv_i2_s.yaml:12:14: error (variants[0].backend): backend cpu_highway has no kernel "
              "for gemv i2_s x i8_s (there is no cpu_highway kernel for this layout); use cuda or metal");
  }
}

TEST(CodegenErrors, TwoSpecsOfTheSameCode) {
  Files files = valid_set();
  files.emplace_back("specs/kernels/gemv_again.yaml", replace(kKernel, "name: gemv_tq2_0_q8_k", "name: gemv_again"));
  try {
    load_spec_texts(files);
    FAIL() << "two specs instantiating the same code accepted";
  } catch (const SpecError& e) {
    EXPECT_EQ(std::string(e.what()),
              "specs/kernels/gemv_again.yaml:3:7: error (name): kernel gemv_again instantiates the same gemv tq2_0 "
              "x q8_k code with the same params as gemv_tq2_0_q8_k in specs/kernels/gemv.yaml");
  }
}

TEST(CodegenOutput, Deterministic) {
  const FileMap a = generate(load_specs(repo_root() + "/specs"), repo_root());
  const FileMap b = generate(load_specs(repo_root() + "/specs"), repo_root());
  EXPECT_EQ(a, b);
  for (const auto& [path, text] : a) {
    EXPECT_NE(text.find("Generated by trix-gen from"), std::string::npos) << path << " lacks the banner";
  }
}

// Dynamic dispatch is declarations only (the kernels are compiled once per
// program, by trix/cpu/implementation.h from the TRIX_CPU_KERNELS list);
// static dispatch compiles them in the including translation unit.
TEST(CodegenOutput, DispatchHeaderDeclaresOnly) {
  Files files = valid_set();
  const FileMap both = generate(load_spec_texts(files), repo_root());
  const std::string& dyn = both.at("trix/cpu/dispatch.h");
  EXPECT_EQ(dyn.find("hwy/"), std::string::npos) << dyn;
  EXPECT_EQ(dyn.find("HWY_"), std::string::npos) << dyn;
  EXPECT_NE(dyn.find("\nvoid gemv_tq2_0_q8_k(const GemvArgs& args, size_t begin, size_t end);\n"),
            std::string::npos) << dyn;
  EXPECT_NE(dyn.find("#define TRIX_CPU_KERNELS(X) \\\n  X(gemv_tq2_0_q8_k, (const GemvArgs& args, size_t begin, "
                     "size_t end))\n"),
            std::string::npos) << dyn;
  EXPECT_NE(both.at("trix/cpu/static_dispatch.h").find("HWY_STATIC_DISPATCH(gemv_tq2_0_q8_k)"), std::string::npos);
  files[2].second = replace(files[2].second, "dispatch: [static, dynamic]", "dispatch: [static]");
  const FileMap static_only = generate(load_spec_texts(files), repo_root());
  EXPECT_EQ(static_only.at("trix/cpu/dispatch.h").find("gemv_tq2_0_q8_k"), std::string::npos);
}

TEST(CodegenOutput, TuningParameterReachesGeneratedCode) {
  Files files = valid_set();
  const FileMap four = generate(load_spec_texts(files), repo_root());
  files[2].second = replace(files[2].second, "rows_per_step: 4", "rows_per_step: 2");
  const FileMap two = generate(load_spec_texts(files), repo_root());
  const std::string& h4 = four.at("trix/kernels/gemv_tq2_0_q8_k.h");
  const std::string& h2 = two.at("trix/kernels/gemv_tq2_0_q8_k.h");
  EXPECT_NE(h4.find("kRowsPerStep = 4;"), std::string::npos);
  EXPECT_NE(h2.find("kRowsPerStep = 2;"), std::string::npos);
}

// Every parameter of every repo spec becomes a constant of the generated
// struct, and every CPU instantiation passes that struct (or its constant)
// to the template: no parameter is parsed and then dropped.
TEST(CodegenOutput, EachSpecParameterReachesGeneratedCode) {
  const SpecSet set = load_specs(repo_root() + "/specs");
  const FileMap files = generate(set, repo_root());
  const std::string& inl = files.at("trix/cpu/kernels-inl.h");
  size_t n_params = 0;
  for (const auto& k : set.kernels) {
    const std::string& h = files.at("trix/kernels/" + k.name + ".h");
    const DeviceOp* op = k.is_device_op() ? find_device_op(k.op, k.format) : nullptr;
    const Implementation* impl = op ? nullptr : find_implementation(k.op, k.weights, k.activations, k.layout);
    ASSERT_TRUE(op || impl) << k.name;
    for (const auto& v : k.variants) {
      std::span<const ParamRule> rules;
      if (op) {
        rules = v.backend == "cuda" ? op->cuda_params : op->metal_params;
      } else if (v.backend == "cpu_highway") {
        rules = impl->cpu_params;
      } else {
        rules = v.backend == "cuda" ? impl->device->cuda_params : impl->device->metal_params;
      }
      EXPECT_EQ(v.params.size(), rules.size()) << k.name << " " << v.backend;
      for (const auto& r : rules) {
        const std::string want = std::string(r.constant) + " = " + std::to_string(v.params.at(r.name)) + ";";
        EXPECT_NE(h.find(want), std::string::npos) << k.name << ": " << want;
        ++n_params;
      }
      if (v.backend == "cpu_highway" && !rules.empty()) {
        const size_t fn = inl.find("inline void " + k.name + "(");
        ASSERT_NE(fn, std::string::npos) << k.name;
        const std::string body = inl.substr(fn, inl.find("\n}\n", fn) - fn);
        EXPECT_NE(body.find("kernels::" + k.name + "::CpuHighway"), std::string::npos) << body;
      }
    }
  }
  EXPECT_GE(n_params, 10u);  // rows_per_step x2, 3 per GEMM x2, CUDA, Metal
}

TEST(CodegenOutput, CacheBudgetsReachGeneratedCode) {
  const FileMap files = generate(load_specs(repo_root() + "/specs"), repo_root());
  const std::string& h = files.at("trix/kernels/gemm_packed_tq2_0_q8_k.h");
  EXPECT_NE(h.find("static constexpr size_t kL1ActTileBytes = 36864;"), std::string::npos) << h;
  EXPECT_NE(h.find("static constexpr size_t kL2CodeChunkBytes = 524288;"), std::string::npos) << h;
  EXPECT_NE(files.at("trix/cpu/kernels-inl.h")
                .find("PackedTernaryGemm<true, kernels::gemm_packed_tq2_0_q8_k::CpuHighway>(args, begin, end);"),
            std::string::npos);
}

TEST(CodegenOutput, TQ1_0RunsTheTQ2_0PackedKernels) {
  const FileMap files = generate(load_specs(repo_root() + "/specs"), repo_root());
  for (const char* name : {"gemv_packed_tq2_0_q8_k", "gemm_packed_tq2_0_q8_k"}) {
    EXPECT_NE(files.at(std::string("trix/kernels/") + name + ".h")
                  .find("kSourceFormats = {FormatId::TQ2_0, FormatId::TQ1_0};"),
              std::string::npos)
        << name;
  }
  EXPECT_EQ(files.count("trix/kernels/gemv_packed_tq1_0_q8_k.h"), 0u);
  EXPECT_EQ(files.at("trix/cpu/kernels-inl.h").find("tq1_0"), std::string::npos) << "one instantiation for both";
}

// The traits table gathers each format's codec, reference matmul,
// preparation and consuming kernels from the format and kernel specs.
std::string traits_entry(const FileMap& files, const std::string& enum_name) {
  const std::string& h = files.at("trix/formats/traits.h");
  const size_t b = h.find("{.id = FormatId::" + enum_name + ",");
  EXPECT_NE(b, std::string::npos) << enum_name;
  if (b == std::string::npos) return "";
  return h.substr(b, h.find("},", b) - b);
}

TEST(CodegenOutput, FormatTraitsFollowTheSpecs) {
  const FileMap fixture = generate(load_spec_texts(valid_set()), repo_root());
  const std::string tq2 = traits_entry(fixture, "TQ2_0");
  EXPECT_NE(tq2.find(".quantize_row = &detail::quantize_row_erased<&quantize_row_tq2_0>"), std::string::npos) << tq2;
  EXPECT_NE(tq2.find(".matmul_activations = FormatId::Q8_K"), std::string::npos) << tq2;
  EXPECT_NE(tq2.find(".vec_dot = &detail::vec_dot_erased<&vec_dot_tq2_0_q8_k>"), std::string::npos) << tq2;
  EXPECT_NE(tq2.find(".kernels = \"gemv_tq2_0_q8_k\""), std::string::npos) << tq2;
  EXPECT_NE(tq2.find(".prepare = Prepare::None"), std::string::npos) << tq2;
  const std::string q8k = traits_entry(fixture, "Q8_K");
  EXPECT_NE(q8k.find(".gguf_weights = false"), std::string::npos) << q8k;
  EXPECT_NE(q8k.find(".vec_dot = nullptr"), std::string::npos) << q8k;

  const FileMap repo = generate(load_specs(repo_root() + "/specs"), repo_root());
  const std::string tq1 = traits_entry(repo, "TQ1_0");
  EXPECT_NE(tq1.find(".prepare = Prepare::Packed4"), std::string::npos) << "prepared_from makes it packed4";
  EXPECT_NE(tq1.find(".llama_file_type = 36"), std::string::npos) << tq1;
  const std::string i2s = traits_entry(repo, "I2_S");
  EXPECT_NE(i2s.find(".quantize_rows_tensor_scale = &quantize_i2_s"), std::string::npos) << i2s;
  EXPECT_NE(i2s.find(".matmul_activations = FormatId::I8_S"), std::string::npos) << i2s;
  EXPECT_NE(traits_entry(repo, "Q6_K").find(".prepare = Prepare::HugePageCopy"), std::string::npos);
}

TEST(CodegenOutput, AccuracyReachesGeneratedCode) {
  Files files = valid_set();
  const FileMap exact = generate(load_spec_texts(files), repo_root());
  files[2].second = replace(files[2].second, "{kind: bit_exact}", "{kind: tolerance, rel: 1e-5}");
  const FileMap tol = generate(load_spec_texts(files), repo_root());
  EXPECT_NE(exact.at("trix/kernels/gemv_tq2_0_q8_k.h").find("kAccuracy = Accuracy::bit_exact_contract();"),
            std::string::npos);
  EXPECT_NE(tol.at("trix/kernels/gemv_tq2_0_q8_k.h").find("kAccuracy = Accuracy::tolerance(1e-05);"),
            std::string::npos) << tol.at("trix/kernels/gemv_tq2_0_q8_k.h");
}

// The GPU emitters take the kernel's name from the spec and the launcher and
// body from its implementation's device body, not from one hard-coded kernel.
TEST(CodegenOutput, GpuVariantsNameTheSpecKernel) {
  Files files = valid_set();
  files[2].second = replace(files[2].second, "name: gemv_tq2_0_q8_k", "name: gemv_tuned");
  files[2].second += "  - backend: metal\n    params: {threads_per_threadgroup: 32}\n";
  const FileMap out = generate(load_spec_texts(files), repo_root());
  const std::string& cuh = out.at("trix/cuda/gemv_tuned.cuh");
  EXPECT_NE(cuh.find("inline cudaError_t launch_gemv_tuned(const GemvArgs& args"), std::string::npos) << cuh;
  EXPECT_NE(cuh.find("return launch_gemv_lanes16<gemv_tuned_config, gemv_tuned_body::Body>(args, stream);"),
            std::string::npos) << cuh;
  EXPECT_NE(cuh.find("#include \"trix/kernels/gemv_tq2_0_q8_k.body.h\""), std::string::npos) << cuh;
  // Layout constants come from the format specs, the same in both sources.
  EXPECT_NE(cuh.find("inline constexpr trix_u32 kWBlockBytes = 66;"), std::string::npos) << cuh;
  const std::string& metal = out.at("trix/metal/gemv_tuned.metal");
  EXPECT_NE(metal.find("kernel void gemv_tuned("), std::string::npos);
  EXPECT_NE(metal.find("// ---- begin include/trix/kernels/gemv_tq2_0_q8_k.body.h"), std::string::npos);
  EXPECT_NE(metal.find("constant constexpr trix_u32 kWBlockBytes = 66;"), std::string::npos);
  EXPECT_NE(out.at("trix/kernels/gemv_tuned.h").find("kThreadsPerThreadgroup = 32;"), std::string::npos);
}

TEST(CodegenOutput, CheckedInGeneratedMatchesSpecs) {
  const FileMap files = generate(load_specs(repo_root() + "/specs"), repo_root());
  for (const auto& [rel, text] : files) {
    const std::string path = repo_root() + "/generated/" + rel;
    ASSERT_TRUE(std::filesystem::exists(path)) << "generated/" << rel << " missing: run trix-gen";
    EXPECT_EQ(read_text(path), text) << "generated/" << rel << " is stale: run trix-gen --specs specs --out generated";
  }
}


// A device op's emitted sources follow its spec: the name, the args as the
// kernel's Args / Metal buffers and params, the block sizes, and the
// format's layout constants in both sources.
TEST(CodegenOutput, DeviceOpSourcesFollowTheSpec) {
  const FileMap out = generate(load_spec_texts(op_set()), repo_root());
  const std::string& h = out.at("trix/kernels/rmsnorm_x.h");
  EXPECT_NE(h.find("struct Args {\n  const float* x;  // in\n  const float* w;  // in\n  float* out;  // out\n"
                   "  uint32_t n;  // scalar\n  float eps;  // scalar\n  uint32_t rows;  // scalar\n};"),
            std::string::npos) << h;
  EXPECT_NE(h.find("kAccuracy = Accuracy::tolerance(1e-05);"), std::string::npos) << h;
  EXPECT_NE(h.find("kThreadsPerBlock = 64;"), std::string::npos) << h;
  EXPECT_NE(h.find("kThreadsPerThreadgroup = 96;"), std::string::npos) << h;
  const std::string& cuh = out.at("trix/cuda/rmsnorm_x.cuh");
  EXPECT_NE(cuh.find("inline cudaError_t launch_rmsnorm_x(const kernels::rmsnorm_x::Args& a"), std::string::npos)
      << cuh;
  EXPECT_NE(cuh.find("rmsnorm_x_body::trix_rmsnorm_partial(a.x, a.w, a.out, a.n, a.eps, a.rows, row, lane)"),
            std::string::npos) << cuh;
  const std::string& metal = out.at("trix/metal/rmsnorm_x.metal");
  EXPECT_NE(metal.find("kernel void rmsnorm_x(device const float* x [[buffer(0)]],\n    device const float* w "
                       "[[buffer(1)]],\n    device float* out [[buffer(2)]],\n    constant rmsnorm_x_params& p "
                       "[[buffer(3)]],"),
            std::string::npos) << metal;
  EXPECT_NE(out.at("trix/metal/rmsnorm_x.h").find("enum BufferIndex : unsigned { kX = 0, kW = 1, kOut = 2, kParams = 3 };"),
            std::string::npos);
  EXPECT_EQ(out.count("trix/metal/quantize_x.metal"), 0u) << "no metal variant in that spec";
  const std::string& q = out.at("trix/cuda/quantize_x.cuh");
  EXPECT_NE(q.find("inline constexpr trix_u32 kBsumsOffset = 260;"), std::string::npos) << q;
  EXPECT_NE(q.find("CUDA variant of quantize_x for sm_90."), std::string::npos) << q;
}

// ---- model graphs (emit_models): the layer composition per architecture.

TEST(CodegenModelGraph, LlamaSpecYieldsGraphAndShape) {
  const FileMap files = generate(load_spec_texts(valid_set()), repo_root());
  const std::string& graphs = files.at("trix/models/graphs.h");
  EXPECT_NE(graphs.find("struct LlamaGraph {"), std::string::npos);
  EXPECT_NE(graphs.find("attention_block(s, w, layer, pos0, n_tok, x, kv, b, pool, RopeStyle::Adjacent,"),
            std::string::npos) << graphs;
  EXPECT_NE(graphs.find("/*sub_norm=*/nullptr, s.ffn_activation, b, pool);"), std::string::npos) << graphs;
  EXPECT_EQ(graphs.find("BitnetB158Graph"), std::string::npos) << "no bitnet spec in this set";
  const std::string& tiny = files.at("trix/models/tiny.h");
  EXPECT_NE(tiny.find("using Graph = LlamaGraph;"), std::string::npos) << tiny;
  EXPECT_NE(tiny.find("#include \"trix/models/graphs.h\""), std::string::npos);
  EXPECT_NE(tiny.find("struct Tiny : TinyShape {"), std::string::npos) << tiny;
  // The shape stands alone (file converters include it): no runtime include.
  const std::string& shape = files.at("trix/models/tiny_shape.h");
  EXPECT_NE(shape.find("static constexpr int64_t n_layers = 2;"), std::string::npos);
  EXPECT_EQ(shape.find("#include \"trix/models/graphs.h\""), std::string::npos) << shape;
  EXPECT_EQ(shape.find("Graph"), std::string::npos) << shape;
}

TEST(CodegenModelGraph, BitnetSpecYieldsSubNormsAndRelu2) {
  Files files = valid_set();
  std::string bitnet = replace(kModel, "architecture: llama", "architecture: bitnet-b1.58");
  bitnet = replace(bitnet, "name: tiny", "name: tiny_bitnet");
  bitnet = replace(bitnet, "class_name: Tiny", "class_name: TinyBitnet");
  bitnet = replace(bitnet, "{ffn: swiglu, rope: adjacent, sub_norms: false",
                   "{ffn: relu2_gated, rope: neox, sub_norms: true");
  files.emplace_back("specs/models/tiny_bitnet.yaml", bitnet);
  const FileMap out = generate(load_spec_texts(files), repo_root());
  const std::string& graphs = out.at("trix/models/graphs.h");
  EXPECT_NE(graphs.find("struct BitnetB158Graph {"), std::string::npos);
  EXPECT_NE(graphs.find("RopeStyle::NeoxHalves,\n                    static_cast<const float*>(w.attn_sub_norm.data));"),
            std::string::npos) << graphs;
  EXPECT_NE(graphs.find("static_cast<const float*>(w.ffn_sub_norm.data), s.ffn_activation, b, pool);"),
            std::string::npos) << graphs;
  // relu^2 is the spec's (the default); the blocks run the shape's activation.
  EXPECT_NE(graphs.find("kInfo = {RopeStyle::NeoxHalves, FfnActivation::ReluSquared, true};"), std::string::npos)
      << graphs;
  EXPECT_NE(graphs.find("case Arch::BitnetB158:\n      BitnetB158Graph::layer("), std::string::npos);
  EXPECT_NE(graphs.find("case Arch::Llama:\n      LlamaGraph::layer("), std::string::npos);
  EXPECT_NE(out.at("trix/models/tiny_bitnet.h").find("using Graph = BitnetB158Graph;"), std::string::npos);
}

TEST(CodegenModelGraph, OneArchitectureOneGraph) {
  Files files = valid_set();
  std::string other = replace(kModel, "name: tiny", "name: tiny_neox");
  other = replace(other, "class_name: Tiny", "class_name: TinyNeox");
  other = replace(other, "rope: adjacent", "rope: neox");
  files.emplace_back("specs/models/tiny_neox.yaml", other);
  try {
    generate(load_spec_texts(files), repo_root());
    FAIL() << "two llama specs with different graphs accepted";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("specs/models/tiny_neox.yaml: error: graph {swiglu/neox/no_sub_norms} "
                                         "differs from {swiglu/adjacent/no_sub_norms} in specs/models/tiny.yaml"),
              std::string::npos) << e.what();
  }
}

TEST(CodegenModelGraph, RepoSpecsCoverBothArchitectures) {
  const FileMap files = generate(load_specs(repo_root() + "/specs"), repo_root());
  const std::string& graphs = files.at("trix/models/graphs.h");
  EXPECT_NE(graphs.find("// llama (specs: stories260k, tinyllama_1_1b)"), std::string::npos) << graphs;
  EXPECT_NE(graphs.find("// bitnet-b1.58 (specs: bitnet_b1_58_2b_4t)"), std::string::npos) << graphs;
  EXPECT_NE(files.at("trix/models/bitnet_b1_58_2b_4t.h").find("using Graph = BitnetB158Graph;"),
            std::string::npos);
  const std::string& b = files.at("trix/models/bitnet_b1_58_2b_4t_shape.h");
  for (const char* want : {"dim = 2560;", "ffn_dim = 6912;", "n_layers = 30;", "n_heads = 20;",
                           "n_kv_heads = 5;", "vocab = 128256;", "rope_theta = 500000.0f;",
                           "blk.{layer}.ffn_sub_norm.weight"}) {
    EXPECT_NE(b.find(want), std::string::npos) << want;
  }
  const std::string& t = files.at("trix/models/tinyllama_1_1b_shape.h");
  for (const char* want : {"dim = 2048;", "ffn_dim = 5632;", "n_layers = 22;", "n_heads = 32;",
                           "n_kv_heads = 4;", "vocab = 32000;", "kTiedOutput = false;", "output.weight"}) {
    EXPECT_NE(t.find(want), std::string::npos) << want;
  }
}

TEST(CodegenModelGraph, TrixSparseLookupHasItsOwnGraphOutsideArchLayer) {
  const FileMap files = generate(load_specs(repo_root() + "/specs"), repo_root());
  const std::string& graphs = files.at("trix/models/graphs.h");
  const size_t at = graphs.find("// trix_sparse_lookup (specs: trix_sparse_lookup_d128, trix_sparse_lookup_d2048)");
  ASSERT_NE(at, std::string::npos) << graphs;
  EXPECT_NE(graphs.find("trix_lm_attention_block(s, w, layer, pos0, n_tok, x, st, pool);", at), std::string::npos);
  EXPECT_NE(graphs.find("trix_lm_sparse_lookup_block(s, w, n_tok, x, st, pool);", at), std::string::npos);
  // No trix::Arch: arch_layer / arch_graph never name it.
  EXPECT_EQ(graphs.find("TrixSparseLookupGraph::"), std::string::npos);
  EXPECT_NE(files.at("trix/models/trix_sparse_lookup_d128.h").find("using Graph = TrixSparseLookupGraph;"),
            std::string::npos);
  const std::string& b = files.at("trix/models/trix_sparse_lookup_d2048_shape.h");
  for (const char* want : {"dim = 2048;", "n_layers = 24;", "tiles = 256;", "tiles_per_cluster = 16;", "grid = 16;",
                           "compress_hidden = 512;", "norm_eps = 1.0000000000000001e-05f;",
                           "blk.{layer}.ffn_directions.weight"}) {
    EXPECT_NE(b.find(want), std::string::npos) << want;
  }
  EXPECT_EQ(b.find("kSwiGLU"), std::string::npos);
}

}  // namespace
}  // namespace trixgen
