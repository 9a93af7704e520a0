#include <cctype>
#include <cmath>

#include "spec_reader.h"
#include "specs.h"

namespace trixgen {

namespace {

void parse_tensors(const SpecNode& root, ModelSpec& m) {
  for (const SpecNode& t : root.required("tensors").items()) {
    t.expect_keys({"name", "role", "format"});
    ModelTensorSpec ts;
    ts.name = t.required("name").as_string();
    ts.role = t.required("role").as_identifier();
    ts.format = t.required("format").as_identifier();
    m.tensors.push_back(ts);
  }
}

// The TriX sparse-lookup language model (trix/runtime/trix_lm_blocks.h):
// LayerNorm + biased multi-head attention, SparseLookupFFN, learned
// positions, output tied to the token embedding. Its graph has no options
// to choose; the spec states them so that a reader sees the computation.
void parse_trix_sparse_lookup(const SpecNode& root, ModelSpec& m) {
  SpecNode graph = root.required("graph");
  graph.expect_keys({"attention", "ffn", "positions", "tied_output"});
  graph.required("attention").as_enum({"layernorm_mha"});
  m.ffn = graph.required("ffn").as_enum({"sparse_lookup"});
  m.rope_style = graph.required("positions").as_enum({"learned"});
  m.tied_output = graph.required("tied_output").as_bool();
  if (!m.tied_output) graph.required("tied_output").fail("trix_sparse_lookup ties its output to token_embd");

  SpecNode hp = root.required("hparams");
  hp.expect_keys({"dim", "n_layers", "n_heads", "vocab", "context", "tiles", "tiles_per_cluster", "grid",
                  "compress_hidden", "norm_eps"});
  auto int_param = [&](const char* key, int64_t max) {
    const int64_t v = hp.required(key).as_int(1, max);
    m.hparams.emplace_back(key, static_cast<double>(v));
    return v;
  };
  const int64_t dim = int_param("dim", 1 << 16);
  int_param("n_layers", 1024);
  const int64_t heads = int_param("n_heads", 1024);
  int_param("vocab", 1 << 22);
  int_param("context", 1 << 22);
  const int64_t tiles = int_param("tiles", 1 << 16);
  const int64_t per_cluster = int_param("tiles_per_cluster", 1 << 16);
  int_param("grid", 4096);
  int_param("compress_hidden", 1 << 18);
  if (dim % heads != 0) hp.required("n_heads").fail("dim must be a multiple of n_heads");
  if (tiles % per_cluster != 0) hp.required("tiles_per_cluster").fail("tiles must be a multiple of tiles_per_cluster");
  const double eps = hp.required("norm_eps").as_double();
  if (!(eps > 0) || !std::isfinite(eps)) hp.required("norm_eps").fail("expected a positive number");
  m.hparams.emplace_back("norm_eps", eps);
  parse_tensors(root, m);
}

}  // namespace

ModelSpec parse_model(const SpecNode& root) {
  root.expect_keys({"spec", "version", "name", "class_name", "architecture", "description",
                    "compile_time", "graph", "hparams", "tensors"});
  ModelSpec m;
  m.file = root.file();
  m.name = root.required("name").as_identifier();
  m.class_name = root.required("class_name").as_string();
  for (char c : m.class_name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      root.required("class_name").fail("expected a C++ identifier, found '" + m.class_name + "'");
    }
  }
  if (m.class_name.empty() || !std::isupper(static_cast<unsigned char>(m.class_name[0]))) {
    root.required("class_name").fail("expected a C++ type name starting with an upper-case letter");
  }
  m.architecture = root.required("architecture").as_enum({"llama", "bitnet-b1.58", "trix_sparse_lookup"});
  m.doc = root.required("description").as_string();
  if (auto ct = root.optional("compile_time")) m.compile_time = ct->as_bool();
  if (m.architecture == "trix_sparse_lookup") {
    parse_trix_sparse_lookup(root, m);
    return m;
  }

  SpecNode graph = root.required("graph");
  graph.expect_keys({"ffn", "rope", "sub_norms", "tied_output"});
  m.ffn = graph.required("ffn").as_enum({"swiglu", "relu2_gated"});
  m.rope_style = graph.required("rope").as_enum({"adjacent", "neox"});
  m.sub_norms = graph.required("sub_norms").as_bool();
  m.tied_output = graph.required("tied_output").as_bool();
  if (m.architecture == "bitnet-b1.58" && (!m.sub_norms || m.ffn != "relu2_gated")) {
    graph.fail("architecture bitnet-b1.58 needs sub_norms: true and ffn: relu2_gated");
  }

  SpecNode hp = root.required("hparams");
  hp.expect_keys({"dim", "ffn_dim", "n_layers", "n_heads", "n_kv_heads", "vocab", "context",
                  "rope_theta", "rms_eps"});
  auto int_param = [&](const char* key, int64_t max) {
    const int64_t v = hp.required(key).as_int(1, max);
    m.hparams.emplace_back(key, static_cast<double>(v));
    return v;
  };
  const int64_t dim = int_param("dim", 1 << 16);
  int_param("ffn_dim", 1 << 18);
  int_param("n_layers", 1024);
  const int64_t heads = int_param("n_heads", 1024);
  const int64_t kv_heads = int_param("n_kv_heads", 1024);
  int_param("vocab", 1 << 22);
  int_param("context", 1 << 22);
  if (dim % heads != 0) hp.required("n_heads").fail("dim must be a multiple of n_heads");
  if (heads % kv_heads != 0) hp.required("n_kv_heads").fail("n_heads must be a multiple of n_kv_heads");
  for (const char* key : {"rope_theta", "rms_eps"}) {
    const double v = hp.required(key).as_double();
    if (!(v > 0) || !std::isfinite(v)) hp.required(key).fail("expected a positive number");
    m.hparams.emplace_back(key, v);
  }

  parse_tensors(root, m);
  return m;
}

}  // namespace trixgen
