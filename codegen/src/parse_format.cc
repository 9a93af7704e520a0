#include "spec_reader.h"
#include "specs.h"

namespace trixgen {
namespace {

struct TypeInfo {
  const char* name;
  int64_t size;
};
constexpr TypeInfo kFieldTypes[] = {{"u8", 1},  {"i8", 1},   {"u16", 2}, {"i16", 2}, {"u32", 4},
                                    {"i32", 4}, {"f16", 2},  {"bf16", 2}, {"f32", 4}};

int64_t type_size(const std::string& t) {
  for (const auto& ti : kFieldTypes) {
    if (t == ti.name) return ti.size;
  }
  return 0;
}

// A C++ function name, or "" for `none`.
std::string function_or_none(const SpecNode& n) {
  const std::string name = n.as_identifier();
  return name == "none" ? std::string() : name;
}

// roles, llama_file_type, codec, matmul, prepare: what the generated traits
// table (trix/formats/traits.h) says about the format. Function names follow
// the codec convention (quantize_row_<name>, dequantize_row_<name>,
// vec_dot_<name>_<activations>) unless the spec names others.
void parse_runtime(const SpecNode& root, FormatSpec& f) {
  if (auto roles = root.optional("roles")) {
    f.weights = f.activations = false;
    for (const SpecNode& r : roles->items()) {
      const std::string role = r.as_enum({"weights", "activations"});
      bool& flag = role == "weights" ? f.weights : f.activations;
      if (flag) r.fail("role '" + role + "' is listed twice");
      flag = true;
    }
    if (!f.weights && !f.activations) roles->fail("expected at least one of: weights, activations");
  }
  if (auto ft = root.optional("llama_file_type")) {
    if (!f.weights) ft->fail("llama_file_type names a file of weights, but roles has no 'weights'");
    f.llama_file_type = ft->as_int(0, 1023);
  }

  f.codec_headers = {"trix/formats/" + f.name + ".h"};
  f.quantize_row = "quantize_row_" + f.name;
  f.dequantize_row = "dequantize_row_" + f.name;
  const auto codec = root.optional("codec");
  if (codec && codec->yaml().IsScalar()) {
    codec->as_enum({"none"});
    f.codec_headers.clear();
    f.quantize_row.clear();
    f.dequantize_row.clear();
  } else if (codec) {
    codec->expect_keys({"headers", "quantize", "dequantize", "tensor_scale", "activations"});
    if (auto h = codec->optional("headers")) {
      f.codec_headers.clear();
      for (const SpecNode& item : h->items()) f.codec_headers.push_back(item.as_string());
      if (f.codec_headers.empty()) h->fail("expected at least one header (or codec: none)");
    }
    if (auto q = codec->optional("quantize")) f.quantize_row = function_or_none(*q);
    if (auto d = codec->optional("dequantize")) f.dequantize_row = function_or_none(*d);
    if (auto ts = codec->optional("tensor_scale")) {
      ts->expect_keys({"quantize", "scale"});
      if (!f.quantize_row.empty()) {
        ts->fail("a format with a per-tensor scale has no row quantizer: set codec.quantize: none");
      }
      f.quantize_rows_tensor_scale = ts->required("quantize").as_identifier();
      f.tensor_scale = ts->required("scale").as_identifier();
      if (f.trailer_bytes < 4) {
        ts->fail("the per-tensor scale is an f32 at the start of the trailer, but block.trailer_bytes is " +
                 std::to_string(f.trailer_bytes));
      }
    }
    if (auto a = codec->optional("activations")) {
      if (!f.activations) a->fail("an activation quantizer needs 'activations' in roles");
      f.quantize_activations = function_or_none(*a);
    }
  }
  if (f.activations && !(codec && codec->has("activations"))) {
    if (f.trailer_bytes != 0) {
      (codec ? *codec : root).fail("activation rows carry a " + std::to_string(f.trailer_bytes) +
                                   "-byte trailer: name their quantizer in codec.activations");
    }
    f.quantize_activations = f.quantize_row;
  }
  if (f.activations && f.quantize_activations.empty()) {
    root.required("roles").fail("a format in the activations role needs an activation quantizer");
  }

  if (auto m = root.optional("matmul")) {
    if (!f.weights) m->fail("a reference matmul runs over weights, but roles has no 'weights'");
    m->expect_keys({"activations", "dot"});
    f.matmul_activations = m->required("activations").as_identifier();
    f.matmul_dot = "vec_dot_" + f.name + "_" + f.matmul_activations;
    if (auto d = m->optional("dot")) f.matmul_dot = d->as_identifier();
    if (f.dequantize_row.empty()) {
      m->fail("the runtime reads embedding rows through codec.dequantize, which is none");
    }
  }
  if (auto p = root.optional("prepare")) {
    if (!root.has("matmul")) p->fail("prepare applies to weights the runtime multiplies: add 'matmul'");
    f.prepare = p->as_enum({"none", "huge_page_copy"});
  }
}

}  // namespace

FormatSpec parse_format(const SpecNode& root) {
  root.expect_keys({"spec", "version", "name", "description", "peer", "block", "fields", "packing",
                    "values", "scale", "roles", "llama_file_type", "codec", "matmul", "prepare"});
  FormatSpec f;
  f.file = root.file();
  f.name = root.required("name").as_identifier();
  f.enum_name = upper(f.name);
  f.description = root.required("description").as_string();

  SpecNode peer = root.required("peer");
  peer.expect_keys({"project", "type_id", "type_name"});
  f.peer_project = peer.required("project").as_enum({"ggml", "bitnet.cpp", "trinity"});
  if (auto id = peer.optional("type_id")) f.peer_type_id = id->as_int(0, 1023);
  if (auto tn = peer.optional("type_name")) f.peer_type_name = tn->as_string();

  SpecNode block = root.required("block");
  block.expect_keys({"elements", "bytes", "trailer_bytes"});
  f.block_elements = block.required("elements").as_int(1, 1 << 20);
  f.block_bytes = block.required("bytes").as_int(1, 1 << 20);
  if (auto t = block.optional("trailer_bytes")) f.trailer_bytes = t->as_int(0, 4096);

  SpecNode fields = root.required("fields");
  int64_t offset = 0;
  for (const SpecNode& item : fields.items()) {
    item.expect_keys({"name", "type", "count", "doc"});
    FieldSpec fs;
    fs.name = item.required("name").as_identifier();
    fs.type = item.required("type").as_enum(
        {"u8", "i8", "u16", "i16", "u32", "i32", "f16", "bf16", "f32"});
    if (auto c = item.optional("count")) fs.count = c->as_int(1, 1 << 20);
    if (auto d = item.optional("doc")) fs.doc = d->as_string();
    for (const auto& prev : f.fields) {
      if (prev.name == fs.name) item.required("name").fail("duplicate field name '" + fs.name + "'");
    }
    const int64_t size = type_size(fs.type);
    if (offset % size != 0) {
      item.fail("field '" + fs.name + "' of type " + fs.type + " would start at byte " +
                std::to_string(offset) + ", not a multiple of " + std::to_string(size) +
                " (reorder the fields so the struct needs no padding)");
    }
    fs.offset = offset;
    offset += size * fs.count;
    f.fields.push_back(fs);
  }
  if (f.fields.empty()) fields.fail("expected at least one field");
  if (offset != f.block_bytes) {
    fields.fail("fields add up to " + std::to_string(offset) + " bytes but block.bytes is " +
                std::to_string(f.block_bytes));
  }
  int64_t max_align = 1;
  for (const auto& fs : f.fields) max_align = std::max(max_align, type_size(fs.type));
  if (f.block_bytes % max_align != 0) {
    block.required("bytes").fail("block.bytes " + std::to_string(f.block_bytes) +
                                 " is not a multiple of the largest field alignment " +
                                 std::to_string(max_align) + " (the struct would be padded)");
  }

  SpecNode packing = root.required("packing");
  packing.expect_keys({"kind", "bits", "group_bytes", "shift_order", "doc"});
  f.packing.kind = packing.required("kind").as_enum({"none", "ieee", "strided_2bit", "base3", "kquant"});
  if (auto d = packing.optional("doc")) f.packing.doc = d->as_string();
  if (f.packing.kind == "strided_2bit") {
    f.packing.bits = packing.required("bits").as_int(2, 2);
    f.packing.group_bytes = packing.required("group_bytes").as_int(1, 1024);
    f.packing.shift_order = packing.required("shift_order").as_enum({"ascending", "descending"});
    const int64_t codes_per_group = f.packing.group_bytes * 4;
    if (f.block_elements % codes_per_group != 0) {
      packing.required("group_bytes").fail(
          "a group of " + std::to_string(f.packing.group_bytes) + " bytes holds " +
          std::to_string(codes_per_group) + " codes, which does not divide block.elements " +
          std::to_string(f.block_elements));
    }
  } else {
    for (const char* k : {"bits", "group_bytes", "shift_order"}) {
      if (packing.has(k)) {
        packing.required(k).fail(std::string("key '") + k +
                                 "' only applies to packing kind strided_2bit");
      }
    }
  }

  if (auto values = root.optional("values")) {
    for (const SpecNode& v : values->items()) f.values.push_back(v.as_int(-128, 127));
    if (f.values.empty()) values->fail("expected at least one value");
  }
  if (f.packing.kind == "strided_2bit" && f.values.size() != 3 && f.values.size() != 4) {
    root.fail("packing kind strided_2bit needs 'values' with 3 or 4 entries (code -> value)");
  }
  if (auto s = root.optional("scale")) f.scale_rule = s->as_string();
  parse_runtime(root, f);
  return f;
}

}  // namespace trixgen
