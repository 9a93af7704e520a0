#include "spec_reader.h"
#include "specs.h"

namespace trixgen {
namespace {

// Parameters each backend understands, with their allowed range. A spec that
// names another parameter is rejected: a typo must not silently fall back.
// `op` empty: the rule applies to every op.
struct ParamRule {
  const char* backend;
  const char* op;
  const char* name;
  int64_t min, max, multiple_of;
};
constexpr ParamRule kParamRules[] = {
    {"cpu_highway", "", "rows_per_step", 1, 8, 1},
    {"cpu_highway", "gemm", "tokens_per_tile", 1, 64, 1},
    {"cuda", "", "threads_per_block", 32, 1024, 32},
    {"metal", "", "threads_per_threadgroup", 16, 1024, 16},
};

bool rule_applies(const ParamRule& r, const std::string& backend, const std::string& op) {
  return backend == r.backend && (r.op[0] == '\0' || op == r.op);
}

}  // namespace

KernelSpec parse_kernel(const SpecNode& root) {
  root.expect_keys({"spec", "version", "name", "description", "op", "layout", "weights",
                    "activations", "output", "reference", "accuracy", "variants"});
  KernelSpec k;
  k.file = root.file();
  k.name = root.required("name").as_identifier();
  k.doc = root.required("description").as_string();
  k.op = root.required("op").as_enum({"gemv", "gemm"});
  if (auto layout = root.optional("layout")) k.layout = layout->as_enum({"ggml", "packed4"});
  k.weights = root.required("weights").as_identifier();
  k.activations = root.required("activations").as_identifier();
  k.output = root.required("output").as_enum({"f32"});
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

  SpecNode variants = root.required("variants");
  for (const SpecNode& v : variants.items()) {
    v.expect_keys({"backend", "params", "dispatch", "archs"});
    VariantSpec vs;
    vs.backend = v.required("backend").as_enum({"cpu_highway", "cuda", "metal"});
    for (const auto& prev : k.variants) {
      if (prev.backend == vs.backend) {
        v.required("backend").fail("a second variant for backend " + vs.backend +
                                   " (one per backend; tune it with params)");
      }
    }
    SpecNode params = v.required("params");
    for (const auto& [key, value] : params.entries()) {
      const std::string name = key.as_string();
      const ParamRule* rule = nullptr;
      std::string known;
      for (const auto& r : kParamRules) {
        if (!rule_applies(r, vs.backend, k.op)) continue;
        if (name == r.name) rule = &r;
        known += known.empty() ? r.name : std::string(", ") + r.name;
      }
      if (!rule) key.fail("unknown parameter '" + name + "' for backend " + vs.backend +
                          " (expected one of: " + known + ")");
      const int64_t x = value.as_int(rule->min, rule->max);
      if (x % rule->multiple_of != 0) {
        value.fail("parameter " + name + " must be a multiple of " +
                   std::to_string(rule->multiple_of) + ", found " + std::to_string(x));
      }
      vs.params[name] = x;
    }
    for (const auto& r : kParamRules) {
      if (rule_applies(r, vs.backend, k.op) && !vs.params.count(r.name)) {
        params.fail(std::string("missing parameter '") + r.name + "' for backend " + vs.backend +
                    (r.op[0] ? std::string(" and op ") + r.op : std::string()));
      }
    }
    if (vs.backend == "cpu_highway" && k.layout == "packed4" && vs.params.at("rows_per_step") != 4) {
      params.fail("the packed4 layout interleaves 4 rows: rows_per_step must be 4, found " +
                  std::to_string(vs.params.at("rows_per_step")));
    }
    if (vs.backend != "cpu_highway" && (k.layout != "ggml" || k.op != "gemv")) {
      v.required("backend").fail("backend " + vs.backend + " implements only op gemv on the ggml layout" +
                                 " (this spec: " + k.op + ", layout " + k.layout + "); use cpu_highway");
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

}  // namespace trixgen
