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

}  // namespace

FormatSpec parse_format(const SpecNode& root) {
  root.expect_keys({"spec", "version", "name", "description", "peer", "block", "fields", "packing",
                    "values", "scale"});
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
  return f;
}

}  // namespace trixgen
