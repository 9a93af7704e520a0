#include <algorithm>

#include "spec_reader.h"
#include "specs.h"

namespace trixgen {
namespace {

std::string names(std::span<const ParamRule> rules) {
  std::string out;
  for (const auto& r : rules) out += (out.empty() ? "" : ", ") + std::string(r.name);
  return out;
}

// Reads `params` (absent: none) against the rules of the code that reads
// them: a parameter nothing reads is an error, never silently ignored.
std::map<std::string, int64_t> read_params(const SpecNode& variant, std::span<const ParamRule> rules,
                                           const std::string& reader, const char* note) {
  std::map<std::string, int64_t> out;
  const auto params = variant.optional("params");
  if (params) {
    params->expect_map();
    for (const auto& [key, value] : params->entries()) {
      const std::string name = key.as_string();
      const auto rule = std::find_if(rules.begin(), rules.end(),
                                     [&](const ParamRule& r) { return name == r.name; });
      if (rule == rules.end()) {
        const std::string why = note[0] ? std::string("; ") + note : std::string();
        key.fail("'" + name + "' is not used by " + reader +
                 (rules.empty() ? " (it accepts no parameters" + why + ")"
                                : " (it accepts: " + names(rules) + why + ")"));
      }
      const int64_t x = value.as_int(rule->min, rule->max);
      if (x % rule->multiple_of != 0) {
        value.fail("parameter " + name + " must be a multiple of " + std::to_string(rule->multiple_of) +
                   ", found " + std::to_string(x));
      }
      if (rule->power_of_two && (x & (x - 1)) != 0) {
        value.fail("parameter " + name + " must be a power of two, found " + std::to_string(x));
      }
      out[name] = x;
    }
  }
  for (const auto& r : rules) {
    if (!out.count(r.name)) {
      (params ? *params : variant)
          .fail(std::string("missing parameter '") + r.name + "' (" + reader + " reads: " + names(rules) + ")");
    }
  }
  return out;
}

// The GEMV/GEMM keys: formats, layout, output.
void parse_matmul_keys(KernelSpec& k, const SpecNode& root) {
  for (const char* key : {"format", "args"}) {
    if (root.has(key)) root.required(key).fail(std::string("'") + key + "' only applies to device ops, not " + k.op);
  }
  if (auto layout = root.optional("layout")) k.layout = layout->as_enum({"ggml", "packed4"});
  k.weights = root.required("weights").as_identifier();
  if (auto from = root.optional("prepared_from")) {
    for (const SpecNode& f : from->items()) {
      const std::string name = f.as_identifier();
      if (name == k.weights || std::count(k.prepared_from.begin(), k.prepared_from.end(), name)) {
        f.fail("format " + name + " is listed twice (weights and prepared_from name each format once)");
      }
      k.prepared_from.push_back(name);
    }
    if (k.prepared_from.empty()) from->fail("expected at least one format (or leave prepared_from out)");
  }
  k.activations = root.required("activations").as_identifier();
  k.output = root.required("output").as_enum({"f32"});
}

// A device op's keys: the format it reads or writes (optional) and its
// arguments; checked against the DeviceOp table in cross_check.
void parse_op_keys(KernelSpec& k, const SpecNode& root) {
  for (const char* key : {"layout", "weights", "prepared_from", "activations", "output"}) {
    if (root.has(key)) {
      root.required(key).fail(std::string("'") + key + "' only applies to ops gemv and gemm (device ops list args)");
    }
  }
  if (auto f = root.optional("format")) k.format = f->as_identifier();
  for (const SpecNode& a : root.required("args").items()) {
    a.expect_keys({"name", "type", "role"});
    OpArgSpec arg;
    arg.name = a.required("name").as_identifier();
    arg.role = a.required("role").as_enum({"in", "out", "inout", "scalar"});
    arg.type = arg.role == "scalar" ? a.required("type").as_enum({"u32", "f32"})
                                    : a.required("type").as_enum({"f32", "f16", "i8", "u8", "i32"});
    for (const auto& prev : k.args) {
      if (prev.name == arg.name) a.required("name").fail("argument " + arg.name + " is listed twice");
    }
    k.args.push_back(arg);
  }
}

}  // namespace

KernelSpec parse_kernel(const SpecNode& root) {
  root.expect_keys({"spec", "version", "name", "description", "op", "layout", "weights", "prepared_from",
                    "activations", "output", "format", "args", "reference", "accuracy", "variants"});
  KernelSpec k;
  k.file = root.file();
  k.name = root.required("name").as_identifier();
  k.doc = root.required("description").as_string();
  k.op = root.required("op").as_identifier();  // device ops are checked against their table later
  if (k.is_device_op()) {
    parse_op_keys(k, root);
  } else {
    parse_matmul_keys(k, root);
  }
  k.reference = root.required("reference").as_string();

  SpecNode acc = root.required("accuracy");
  acc.expect_keys({"kind", "rel"});
  k.accuracy = acc.required("kind").as_enum({"bit_exact", "tolerance"});
  if (k.accuracy == "tolerance") {
    k.tolerance_rel = acc.required("rel").as_double();
    if (!(k.tolerance_rel > 0 && k.tolerance_rel < 1)) {
      acc.required("rel").fail("expected a relative tolerance in (0, 1)");
    }
  } else if (acc.has("rel")) {
    acc.required("rel").fail("'rel' only applies to accuracy kind tolerance");
  }

  // Parameters are checked against the implementation in
  // check_kernel_params, once the formats are known to exist.
  SpecNode variants = root.required("variants");
  for (const SpecNode& v : variants.items()) {
    v.expect_keys({"backend", "params", "dispatch", "archs"});
    VariantSpec vs;
    vs.backend = v.required("backend").as_enum({"cpu_highway", "cuda", "metal"});
    if (k.is_device_op() && vs.backend == "cpu_highway") {
      v.required("backend").fail("device op " + k.op +
                                 " has no generated cpu_highway kernel (the CPU op is in trix/cpu/ops.h); use cuda or metal");
    }
    for (const auto& prev : k.variants) {
      if (prev.backend == vs.backend) {
        v.required("backend").fail("a second variant for backend " + vs.backend +
                                   " (one per backend; tune it with params)");
      }
    }
    if (auto d = v.optional("dispatch")) {
      if (vs.backend != "cpu_highway") d->fail("'dispatch' only applies to backend cpu_highway");
      for (const SpecNode& x : d->items()) vs.dispatch.push_back(x.as_enum({"static", "dynamic"}));
    } else if (vs.backend == "cpu_highway") {
      v.fail("missing required key 'dispatch' (static, dynamic or both)");
    }
    if (auto a = v.optional("archs")) {
      if (vs.backend != "cuda") a->fail("'archs' only applies to backend cuda");
      for (const SpecNode& x : a->items()) {
        vs.archs.push_back(x.as_enum({"sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90"}));
      }
    } else if (vs.backend == "cuda") {
      v.fail("missing required key 'archs' (e.g. [sm_80, sm_90])");
    }
    k.variants.push_back(vs);
  }
  if (k.variants.empty()) variants.fail("expected at least one variant");
  return k;
}

void check_kernel_params(KernelSpec& k, const SpecNode& root, const Implementation& impl) {
  const auto variants = root.required("variants").items();
  for (size_t i = 0; i < variants.size(); ++i) {
    VariantSpec& vs = k.variants[i];
    if (vs.backend == "cpu_highway") {
      if (!impl.header) {
        variants[i].required("backend").fail("backend cpu_highway has no kernel for " + describe(impl) + " (" +
                                             impl.param_note + "); use cuda or metal");
      }
      vs.params = read_params(variants[i], impl.cpu_params,
                              "the cpu_highway kernel for " + describe(impl) + " in " + impl.header,
                              impl.param_note);
      continue;
    }
    if (!impl.device) {
      std::string with_body;
      for (const Implementation* other : implementations()) {
        if (other->device) {
          with_body += (with_body.empty() ? "" : ", ") + describe(*other) + " (" + other->device->body + ")";
        }
      }
      variants[i].required("backend").fail("backend " + vs.backend + " needs a device body and " +
                                           describe(impl) + " has none (kernels with one: " + with_body +
                                           "); use cpu_highway");
    }
    const bool cuda = vs.backend == "cuda";
    vs.params = read_params(variants[i], cuda ? impl.device->cuda_params : impl.device->metal_params,
                            "the " + vs.backend + " kernel for " + describe(impl) + " in " + impl.device->body,
                            "");
  }
}

}  // namespace trixgen

namespace trixgen {

void check_op_params(KernelSpec& k, const SpecNode& root, const DeviceOp& op) {
  const auto variants = root.required("variants").items();
  for (size_t i = 0; i < variants.size(); ++i) {
    VariantSpec& vs = k.variants[i];
    const bool cuda = vs.backend == "cuda";
    vs.params = read_params(variants[i], cuda ? op.cuda_params : op.metal_params,
                            "the " + vs.backend + " kernel for device op " + k.op + " in " + op.body, "");
  }
}

}  // namespace trixgen
