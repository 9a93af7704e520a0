// TRIN + model spec -> GGUF (issue 6, item 2).
//
// A TRIN file (trix/io/trin.h, Trinity-1.58bit, seeds/003) holds only
// the packed ternary Linear layers, no names, shapes or scales. This module
// supplies them from a model spec and writes a GGUF whose ternary tensors are
// TQ2_0.
//
// Tensor order. The seed's loader walks `model.named_modules()` of the
// Hugging Face LlamaForCausalLM and reads one TRIN tensor for every module
// that was an nn.Linear ("Every Linear layer was packed by pack.py"). That
// order is, per layer, self_attn.q_proj, k_proj, v_proj, o_proj, then
// mlp.gate_proj, up_proj, down_proj, and after the last layer lm_head (an
// nn.Linear too). So the TRIN order here is, per layer, the spec roles
// attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down (those the
// spec has), then `output` when the spec has an untied output tensor and
// TrinDescOptions::output_in_trin is set (the default, as the seed packs
// lm_head). Embeddings and norms are never in the file.
//
// Shapes. Hugging Face Linear weights are [out_features, in_features]:
// rows = out, cols = in, row-major, so GGUF ne = {cols, rows}. cols must be
// a multiple of 256 (one TQ2_0 block), else trix::Error.
//
// Rotary layout. Hugging Face stores q_proj/k_proj rows in the half-split
// (NeoX) rotary order; GGUF "llama" with normal (interleaved) rope expects
// them permuted as llama.cpp's convert_hf_to_gguf.py does. When the spec's
// rope is not NeoX (kRopeNeox false), attn_q rows are permuted per head with
// n_heads and attn_k rows with n_kv_heads: GGUF row h*hd + 2i + j comes from
// HF row h*hd + j*hd/2 + i. TrinDescOptions::permute_qk turns that off (for a
// TRIN packed from GGUF-ordered weights). A permutation moves whole rows, so
// the values are unchanged.
//
// Scales. The file has none. Trinity's loader computes each one at load
// time as original_std / std(ternary weights), original_std being the std
// of the original fp16 TinyLlama weight. The converter takes, per tensor and
// in this order: the scales file entry ("name scale" per line, '#' comments),
// else the single --scale, else (scale_from_base) Trinity's rule with the
// same-named F32/F16/BF16 tensor of the base GGUF as the original weight;
// otherwise it is an error naming the tensor. The scale becomes TQ2_0's f16
// d for every block of the tensor, so it is rounded to f16 (a note counts the
// scales that changed); the written tensor dequantizes to exactly
// f16(scale) * (c - 1) for every TRIN code c, which the converter checks.
//
// Base GGUF. Non-ternary tensors (token_embd, norms, an output not in the
// TRIN) and the tokenizer come from an optional base GGUF of the same
// architecture: all its metadata and those tensors are copied unchanged; its
// hyper-parameters must match the spec. Without a base the result holds the
// ternary tensors plus architecture metadata only and cannot run alone.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/fp16.h"
#include "trix/formats/tq2_0.h"
#include "trix/io/trin.h"
#include "trix/io/output_file.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"
#include "trix/models/bitnet_b1_58_2b_4t_shape.h"
#include "trix/models/stories260k_shape.h"
#include "trix/models/tinyllama_1_1b_shape.h"

namespace trix {

// One ternary tensor in TRIN order.
struct TrinLayer {
  std::string name;     // GGUF name, e.g. "blk.0.attn_q.weight"
  uint64_t rows = 0;    // out features
  uint64_t cols = 0;    // in features (GGUF ne[0])
  uint32_t rope_heads = 0;  // != 0: permute rows HF -> GGUF with this many heads
};

// Everything the converter needs about a model.
struct TrinModelDesc {
  std::string name;          // spec name, for messages
  std::string architecture;  // general.architecture
  // "<arch>.*" metadata written when there is no base, and checked against
  // the base when there is one.
  std::vector<std::pair<std::string, GgufValue>> arch_metadata;
  std::vector<TrinLayer> ternary;           // in TRIN order
  std::vector<std::string> other_tensors;   // non-ternary tensors of the spec
  std::vector<std::string> spec_order;      // every spec tensor, spec order
};

struct TrinDescOptions {
  bool output_in_trin = true;  // the seed packs lm_head too
  bool permute_qk = true;      // only applies when the rope is not NeoX
};

namespace detail {

// Built by appending pieces: std::string::replace here trips GCC 12's
// -Wrestrict false positive at -O3.
inline std::string expand_layer(std::string_view pattern, int64_t layer) {
  const auto at = pattern.find("{layer}");
  if (at == std::string_view::npos) return std::string(pattern);
  std::string s(pattern.substr(0, at));
  s += std::to_string(layer);
  s += pattern.substr(at + 7);
  return s;
}

inline bool is_per_layer(std::string_view pattern) { return pattern.find("{layer}") != std::string_view::npos; }

}  // namespace detail

// The description of a generated model shape (trix/models/*_shape.h).
template <class M>
TrinModelDesc trin_model_desc(const TrinDescOptions& opt = {}) {
  TrinModelDesc d;
  d.name = M::kName;
  d.architecture = M::kArchitecture;
  const std::string a = d.architecture + ".";
  auto u32 = [&](const char* key, int64_t v) {
    d.arch_metadata.emplace_back(a + key, GgufValue::scalar(static_cast<uint32_t>(v)));
  };
  u32("context_length", M::context);
  u32("embedding_length", M::dim);
  u32("feed_forward_length", M::ffn_dim);
  u32("block_count", M::n_layers);
  u32("attention.head_count", M::n_heads);
  u32("attention.head_count_kv", M::n_kv_heads);
  u32("rope.dimension_count", M::head_dim);
  u32("vocab_size", M::vocab);
  d.arch_metadata.emplace_back(a + "rope.freq_base", GgufValue::scalar(M::rope_theta));
  d.arch_metadata.emplace_back(a + "attention.layer_norm_rms_epsilon", GgufValue::scalar(M::rms_eps));

  const uint64_t dim = static_cast<uint64_t>(M::dim);
  const uint64_t hd = static_cast<uint64_t>(M::head_dim);
  const uint64_t q_rows = static_cast<uint64_t>(M::n_heads) * hd;
  const uint64_t kv_rows = static_cast<uint64_t>(M::n_kv_heads) * hd;
  const uint64_t ffn = static_cast<uint64_t>(M::ffn_dim);
  const bool permute = opt.permute_qk && !M::kRopeNeox;
  struct RoleShape {
    const char* role;
    uint64_t rows, cols;
    uint32_t rope_heads;
  };
  const RoleShape layer_roles[] = {
      {"attn_q", q_rows, dim, permute ? static_cast<uint32_t>(M::n_heads) : 0u},
      {"attn_k", kv_rows, dim, permute ? static_cast<uint32_t>(M::n_kv_heads) : 0u},
      {"attn_v", kv_rows, dim, 0u},
      {"attn_output", dim, q_rows, 0u},
      {"ffn_gate", ffn, dim, 0u},
      {"ffn_up", ffn, dim, 0u},
      {"ffn_down", dim, ffn, 0u},
  };
  auto find_role = [](std::string_view role) -> const typename M::Tensor* {
    for (const auto& t : M::kTensors) {
      if (role == t.role) return &t;
    }
    return nullptr;
  };
  for (int64_t l = 0; l < M::n_layers; ++l) {
    for (const RoleShape& r : layer_roles) {
      if (const auto* t = find_role(r.role)) {
        d.ternary.push_back({detail::expand_layer(t->name, l), r.rows, r.cols, r.rope_heads});
      }
    }
  }
  const auto* out = find_role("output");
  const bool output_ternary = out != nullptr && opt.output_in_trin;
  if (output_ternary) d.ternary.push_back({out->name, static_cast<uint64_t>(M::vocab), dim, 0u});
  // Every tensor in the spec's order: the table's globals before its first
  // per-layer entry, then the per-layer entries layer by layer, then the rest.
  {
    std::vector<std::string> head, tail, per_layer;
    for (const auto& t : M::kTensors) {
      if (detail::is_per_layer(t.name)) {
        per_layer.push_back(t.name);
      } else {
        (per_layer.empty() ? head : tail).push_back(t.name);
      }
    }
    d.spec_order = head;
    for (int64_t l = 0; l < M::n_layers; ++l) {
      for (const auto& p : per_layer) d.spec_order.push_back(detail::expand_layer(p, l));
    }
    d.spec_order.insert(d.spec_order.end(), tail.begin(), tail.end());
  }
  // The non-ternary tensors, in the spec's order.
  for (const auto& t : M::kTensors) {
    const std::string_view role = t.role;
    bool ternary = role == "output" ? output_ternary : false;
    for (const RoleShape& r : layer_roles) ternary = ternary || role == r.role;
    if (ternary) continue;
    if (detail::is_per_layer(t.name)) {
      for (int64_t l = 0; l < M::n_layers; ++l) d.other_tensors.push_back(detail::expand_layer(t.name, l));
    } else {
      d.other_tensors.push_back(t.name);
    }
  }
  return d;
}

// The model specs this build knows, by spec name (specs/models/<name>.yaml).
inline std::vector<std::string> trin_known_models() {
  return {models::TinyLlama1_1BShape::kName, models::BitnetB158_2B4TShape::kName,
          models::Stories260KShape::kName};
}

inline TrinModelDesc trin_model_desc_by_name(std::string_view name, const TrinDescOptions& opt = {}) {
  if (name == models::TinyLlama1_1BShape::kName) return trin_model_desc<models::TinyLlama1_1BShape>(opt);
  if (name == models::BitnetB158_2B4TShape::kName) return trin_model_desc<models::BitnetB158_2B4TShape>(opt);
  if (name == models::Stories260KShape::kName) return trin_model_desc<models::Stories260KShape>(opt);
  std::string known;
  for (const auto& k : trin_known_models()) known += (known.empty() ? "" : ", ") + k;
  throw Error("unknown model spec '" + std::string(name) + "'; expected one of: " + known);
}

// Parses a scales file: one "name scale" per line; blank lines and '#'
// comments are ignored. `file` names it in messages.
inline std::map<std::string, float> parse_trin_scales(std::string_view text, std::string_view file) {
  std::map<std::string, float> out;
  std::istringstream in{std::string(text)};
  std::string line;
  for (size_t lineno = 1; std::getline(in, line); ++lineno) {
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    std::string name, value, extra;
    if (!(ls >> name)) continue;
    const std::string where = std::string(file) + ":" + std::to_string(lineno) + ": ";
    if (!(ls >> value) || (ls >> extra)) {
      throw Error(where + "expected \"<tensor name> <scale>\", found \"" + line + "\"");
    }
    size_t used = 0;
    float s = 0.0f;
    try {
      s = std::stof(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || !std::isfinite(s)) {
      throw Error(where + "tensor '" + name + "': scale \"" + value + "\" is not a finite number");
    }
    if (!out.emplace(name, s).second) throw Error(where + "tensor '" + name + "' listed twice");
  }
  return out;
}

inline std::map<std::string, float> read_trin_scales(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open scales file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_trin_scales(ss.str(), path.string());
}

struct TrinConvertOptions {
  std::map<std::string, float> scales;  // per tensor (from a scales file)
  std::string scales_file = "scales";   // its name, for messages
  std::optional<float> scale;           // for tensors the map lacks
  bool scale_from_base = false;         // Trinity's std-ratio rule, base F32/F16/BF16
  std::optional<std::filesystem::path> base;
};

struct TrinConvertReport {
  size_t ternary_tensors = 0;
  size_t copied_tensors = 0;
  size_t scales_rounded = 0;  // scales not exactly representable in f16
  bool runnable = false;      // a base supplied every non-ternary tensor + tokenizer
};

namespace detail {

// Float values of a base tensor in F32, F16 or BF16; nullopt otherwise.
inline std::optional<std::vector<double>> float_values(const GgufTensor& t) {
  const uint64_t n = t.n_elements();
  std::vector<double> v(n);
  const uint8_t* p = t.data;
  if (t.format == FormatId::F32) {
    for (uint64_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      v[i] = f;
    }
  } else if (t.format == FormatId::F16 || t.format == FormatId::BF16) {
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      v[i] = t.format == FormatId::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
    }
  } else {
    return std::nullopt;
  }
  return v;
}

// Sum of squared deviations / n (the n vs n-1 factor cancels in the ratio).
template <class Get>
double variance(uint64_t n, Get get) {
  double mean = 0.0;
  for (uint64_t i = 0; i < n; ++i) mean += get(i);
  mean /= static_cast<double>(n);
  double ss = 0.0;
  for (uint64_t i = 0; i < n; ++i) {
    const double d = get(i) - mean;
    ss += d * d;
  }
  return ss / static_cast<double>(n);
}

inline std::string shape_str(uint64_t rows, uint64_t cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

// HF row index feeding GGUF row r when rows are permuted with `heads` heads.
inline uint64_t source_row(uint64_t r, uint64_t rows, uint32_t heads) {
  if (heads == 0) return r;
  const uint64_t hd = rows / heads;
  const uint64_t h = r / hd, k = r % hd;
  return h * hd + (k % 2) * (hd / 2) + k / 2;
}

}  // namespace detail

// Converts `trin` to `out` (a GGUF file, written through trix::OutputFile;
// refused before any work if it is `trin`, the base or the scales file).
// Throws trix::Error naming the file, tensor and what was expected on any
// problem.
inline TrinConvertReport convert_trin_to_gguf(const TrinModelDesc& desc, const std::filesystem::path& trin,
                                              const std::filesystem::path& out, const TrinConvertOptions& opt) {
  using detail::shape_str;
  TrinConvertReport rep;
  // Before reading anything: the output must not be one of the inputs.
  std::vector<std::filesystem::path> inputs{trin};
  if (opt.base) inputs.emplace_back(*opt.base);
  if (!opt.scales.empty()) inputs.emplace_back(opt.scales_file);
  check_output_path(out, inputs);
  // Shapes: every row a whole number of TQ2_0 blocks; permuted heads even.
  for (const TrinLayer& l : desc.ternary) {
    if (l.cols % BlockTQ2_0::kElements != 0) {
      throw Error("model spec " + desc.name + ": tensor '" + l.name + "' (" + shape_str(l.rows, l.cols) +
                  "): row length " + std::to_string(l.cols) + " is not a multiple of " +
                  std::to_string(BlockTQ2_0::kElements) + " (one TQ2_0 block)");
    }
    if (l.rope_heads != 0 && (l.rows % l.rope_heads != 0 || (l.rows / l.rope_heads) % 2 != 0)) {
      throw Error("model spec " + desc.name + ": tensor '" + l.name + "': " + std::to_string(l.rows) +
                  " rows do not split into " + std::to_string(l.rope_heads) + " heads of even size");
    }
  }
  for (const auto& [name, s] : opt.scales) {
    bool found = false;
    for (const TrinLayer& l : desc.ternary) found = found || l.name == name;
    if (!found) {
      throw Error(opt.scales_file + ": tensor '" + name + "' is not a ternary tensor of model spec " + desc.name);
    }
  }

  std::optional<GgufReader> base;
  if (opt.base) {
    base.emplace(GgufReader::open(*opt.base));
    const std::string bname = base->name();
    const std::string arch = base->get_string("general.architecture");
    if (arch != desc.architecture) {
      throw Error(bname + ": general.architecture is '" + arch + "', model spec " + desc.name + " expects '" +
                  desc.architecture + "'");
    }
    for (const auto& [key, want] : desc.arch_metadata) {
      if (key.ends_with(".context_length") || key.ends_with(".vocab_size")) continue;  // may legitimately differ
      const GgufValue* have = base->find(key);
      if (!have) continue;  // optional keys (e.g. rope.dimension_count) may be absent
      const bool same = want.type() == GgufType::F32 ? have->as<float>() == want.as<float>()
                                                      : have->as<uint64_t>() == want.as<uint64_t>();
      if (!same) {
        throw Error(bname + ": metadata '" + key + "' is " + have->to_string() + ", model spec " + desc.name +
                    " says " + want.to_string());
      }
    }
    for (const TrinLayer& l : desc.ternary) {
      if (const GgufTensor* t = base->find_tensor(l.name)) {
        if (t->n_dims != 2 || t->ne[0] != l.cols || t->ne[1] != l.rows) {
          throw Error(bname + ": tensor '" + l.name + "' has ne = {" + std::to_string(t->ne[0]) + ", " +
                      std::to_string(t->ne[1]) + "}, model spec " + desc.name + " expects {" +
                      std::to_string(l.cols) + ", " + std::to_string(l.rows) + "}");
        }
      }
    }
    for (const std::string& n : desc.other_tensors) {
      if (!base->find_tensor(n)) {
        throw Error(bname + ": missing tensor '" + n + "' that model spec " + desc.name + " needs");
      }
    }
  }

  // Open the TRIN: its size and every length prefix are checked against the
  // spec here; tensors are then read one at a time, so memory holds one
  // tensor, never the file (scales are applied below, after rounding to f16).
  std::vector<TrinTensorSpec> expected;
  expected.reserve(desc.ternary.size());
  for (const TrinLayer& l : desc.ternary) expected.push_back({l.name, l.rows, l.cols, 1.0f});
  TrinReader trin_reader = TrinReader::open(trin, expected);

  // Scales; this pass also reads every tensor once to check its codes, so a
  // bad TRIN fails before any output is written.
  std::vector<uint16_t> d16(trin_reader.size());
  for (size_t i = 0; i < trin_reader.size(); ++i) {
    const TrinTensor tt = trin_reader.read(i);
    const TrinLayer& l = desc.ternary[i];
    float s = 0.0f;
    if (auto it = opt.scales.find(l.name); it != opt.scales.end()) {
      s = it->second;
    } else if (opt.scale) {
      s = *opt.scale;
    } else if (opt.scale_from_base && base) {
      const GgufTensor* t = base->find_tensor(l.name);
      if (!t) throw Error(base->name() + ": no tensor '" + l.name + "' to take Trinity's scale from");
      const auto orig = detail::float_values(*t);
      if (!orig) {
        throw Error(base->name() + ": tensor '" + l.name + "' is " + format_info(t->format).name +
                    "; Trinity's scale needs the original F32, F16 or BF16 weight");
      }
      const double vo = detail::variance(orig->size(), [&](uint64_t k) { return (*orig)[k]; });
      const double vt = detail::variance(tt.size(), [&](uint64_t k) { return double(tt.value(k)); });
      s = vt > 0.0 ? static_cast<float>(std::sqrt(vo / vt)) : 1.0f;  // seed: no scaling when std is 0
    } else {
      throw Error("tensor '" + l.name + "': no scale (give --scales with a line for it, or --scale" +
                  std::string(base ? ", or --scale-from-base" : "") + ")");
    }
    if (!std::isfinite(s) || std::fabs(s) > 65504.0f) {
      throw Error("tensor '" + l.name + "': scale " + std::to_string(s) + " does not fit TQ2_0's f16 d");
    }
    d16[i] = fp32_to_fp16(s);
    if (fp16_to_fp32(d16[i]) != s) ++rep.scales_rounded;
  }

  // Tensor table: the spec's order, ternary tensors in place; then any base
  // tensor the spec does not name.
  GgufWriter w(out, inputs);
  if (base) {
    for (const auto& [k, v] : base->metadata()) w.set(k, v);
  } else {
    w.set_string("general.architecture", desc.architecture);
    for (const auto& [k, v] : desc.arch_metadata) w.set(k, v);
  }
  w.set_string("general.name", desc.name + " (TRIN ternary, TQ2_0)");
  std::map<std::string, size_t> ternary_index;
  for (size_t i = 0; i < desc.ternary.size(); ++i) ternary_index[desc.ternary[i].name] = i;
  struct Entry {
    int64_t ternary;  // index, or -1 for a copied base tensor
    const GgufTensor* copy;
  };
  std::vector<Entry> order;
  std::map<std::string, bool> placed;
  auto add_ternary = [&](size_t i) {
    const TrinLayer& l = desc.ternary[i];
    w.add_tensor(l.name, FormatId::TQ2_0, {l.cols, l.rows});
    order.push_back({static_cast<int64_t>(i), nullptr});
    placed[l.name] = true;
  };
  auto add_copy = [&](const GgufTensor& t) {
    w.add_tensor(t.name, t.format, std::span<const uint64_t>(t.ne.data(), t.n_dims));
    order.push_back({-1, &t});
    placed[t.name] = true;
  };
  std::vector<std::string> names = desc.spec_order;
  if (names.empty()) {  // a hand-made description: other tensors, then ternary ones
    names = desc.other_tensors;
    for (const TrinLayer& l : desc.ternary) names.push_back(l.name);
  }
  for (const TrinLayer& l : desc.ternary) {
    if (std::find(names.begin(), names.end(), l.name) == names.end()) names.push_back(l.name);
  }
  for (const std::string& n : names) {
    if (placed.count(n)) continue;
    if (auto it = ternary_index.find(n); it != ternary_index.end()) {
      add_ternary(it->second);
    } else if (base) {
      add_copy(*base->find_tensor(n));
    }
  }
  if (base) {
    for (const GgufTensor& t : base->tensors()) {
      if (!placed.count(t.name)) add_copy(t);
    }
  }

  // Data.
  for (const Entry& e : order) {
    if (e.ternary < 0) {
      w.write_tensor_data(e.copy->bytes());
      ++rep.copied_tensors;
      continue;
    }
    const size_t i = static_cast<size_t>(e.ternary);
    const TrinLayer& l = desc.ternary[i];
    const TrinTensor t = trin_reader.read(i);
    const uint64_t nb = l.cols / BlockTQ2_0::kElements;
    const float d = fp16_to_fp32(d16[i]);
    std::vector<BlockTQ2_0> row(nb);
    std::vector<float> deq(l.cols);
    for (uint64_t r = 0; r < l.rows; ++r) {
      const uint64_t src = detail::source_row(r, l.rows, l.rope_heads) * l.cols;
      for (uint64_t b = 0; b < nb; ++b) {
        row[b].d = d16[i];
        for (auto& q : row[b].qs) q = 0;
        for (uint64_t k = 0; k < BlockTQ2_0::kElements; ++k) {
          trix::detail::or_code<BlockTQ2_0>(row[b].qs, k, t.code(src + b * BlockTQ2_0::kElements + k));
        }
      }
      // Check: TQ2_0 dequantizes to exactly f16(scale) * (c - 1).
      dequantize_row_tq2_0(row.data(), deq.data(), l.cols);
      for (uint64_t k = 0; k < l.cols; ++k) {
        if (deq[k] != d * static_cast<float>(t.value(src + k))) {
          throw Error(out.string() + ": tensor '" + l.name + "' row " + std::to_string(r) + " element " +
                      std::to_string(k) + ": TQ2_0 does not dequantize to the TRIN value");
        }
      }
      w.write_tensor_data(std::span<const BlockTQ2_0>(row));
    }
    ++rep.ternary_tensors;
  }
  w.finish();
  rep.runnable = base.has_value() && base->has("tokenizer.ggml.tokens");
  return rep;
}

}  // namespace trix
