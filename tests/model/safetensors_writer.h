// A writer of safetensors bytes for the tests (the importer's input): named
// tensors of any dtype, the JSON header built with nlohmann::json, data in
// the order added. Also the TriXLanguageModel state_dict of a random-weight
// model under the reference module's parameter names.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/trix_lm_reference.h"

namespace trix::test {

// A safetensors prefix: the header's length (8 bytes, little-endian), then
// the header text. Element by element: GCC 12 at -O3 warns falsely
// (-Warray-bounds) on inserting a string range after 8 bytes.
inline std::vector<uint8_t> length_prefixed(const std::string& text) {
  std::vector<uint8_t> out;
  out.reserve(8 + text.size());
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  for (char c : text) out.push_back(static_cast<uint8_t>(c));
  return out;
}

struct SafetensorsBuilder {
  struct Entry {
    std::string name, dtype;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries;

  void add(std::string name, std::string dtype, std::vector<uint64_t> shape, const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    entries.push_back({std::move(name), std::move(dtype), std::move(shape), std::vector<uint8_t>(p, p + n)});
  }
  void add_f32(std::string name, std::vector<uint64_t> shape, const std::vector<float>& v) {
    add(std::move(name), "F32", std::move(shape), v.data(), v.size() * sizeof(float));
  }
  void add_f32(std::string name, std::vector<uint64_t> shape, const float* v, size_t n) {
    add(std::move(name), "F32", std::move(shape), v, n * sizeof(float));
  }

  std::vector<uint8_t> bytes() const {
    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = {{"format", "pt"}};
    uint64_t offset = 0;
    for (const Entry& e : entries) {
      header[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes.size()}}};
      offset += e.bytes.size();
    }
    std::string text = header.dump();
    while ((8 + text.size()) % 8 != 0) text += ' ';  // the format pads the header with spaces
    std::vector<uint8_t> out = length_prefixed(text);
    for (const Entry& e : entries) out.insert(out.end(), e.bytes.begin(), e.bytes.end());
    return out;
  }
};

// `p` as the state_dict of the reference TriXLanguageModel (with the
// buffers a real checkpoint holds and the tied lm_head).
inline SafetensorsBuilder trix_lm_state_dict(const LmParams& p) {
  SafetensorsBuilder b;
  const auto d = static_cast<uint64_t>(p.dim);
  b.add_f32("token_emb.weight", {static_cast<uint64_t>(p.vocab), d}, p.token_emb);
  b.add_f32("pos_emb.weight", {static_cast<uint64_t>(p.context), d}, p.pos_emb);
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const LmLayerParams& L = p.layers[l];
    const SlfParams& f = L.ffn;
    const std::string n = "blocks." + std::to_string(l) + ".";
    const auto t = static_cast<uint64_t>(f.tiles), h = static_cast<uint64_t>(f.hidden), g = static_cast<uint64_t>(f.grid);
    b.add_f32(n + "ln1.weight", {d}, L.ln_w);
    b.add_f32(n + "ln1.bias", {d}, L.ln_b);
    b.add_f32(n + "attn.in_proj_weight", {3 * d, d}, L.in_proj);
    b.add_f32(n + "attn.in_proj_bias", {3 * d}, L.in_bias);
    b.add_f32(n + "attn.out_proj.weight", {d, d}, L.out_proj);
    b.add_f32(n + "attn.out_proj.bias", {d}, L.out_bias);
    b.add_f32(n + "ffn.compress.0.weight", {h, d}, f.w1);
    b.add_f32(n + "ffn.compress.0.bias", {h}, f.b1);
    b.add_f32(n + "ffn.compress.2.weight", {2, h}, f.w2);
    b.add_f32(n + "ffn.compress.2.bias", {2}, f.b2);
    for (uint64_t i = 0; i < t; ++i) {
      const std::string s = n + "ffn.splines." + std::to_string(i) + ".";
      b.add_f32(s + "coeffs", {g, g, 3}, f.coeffs.data() + i * g * g * 3, g * g * 3);
      b.add_f32(s + "scale", {1}, f.scale.data() + i, 1);
    }
    b.add_f32(n + "ffn.directions", {t, d}, f.directions);
    b.add_f32(n + "ffn.norm.weight", {d}, f.norm_w);
    b.add_f32(n + "ffn.norm.bias", {d}, f.norm_b);
    b.add_f32(n + "ffn.output_scale", {1}, &f.output_scale, 1);
    std::vector<int64_t> clusters(t);
    for (uint64_t i = 0; i < t; ++i) clusters[i] = static_cast<int64_t>(i) / f.per_cluster;
    b.add(n + "ffn.cluster_assignments", "I64", {t}, clusters.data(), clusters.size() * 8);
    const std::vector<float> counts(t, 3.0f);
    b.add_f32(n + "ffn.tile_counts", {t}, counts);
    const float total = 7.0f;
    b.add_f32(n + "ffn.total_count", {}, &total, 1);
  }
  b.add_f32("ln_f.weight", {d}, p.lnf_w);
  b.add_f32("ln_f.bias", {d}, p.lnf_b);
  b.add_f32("lm_head.weight", {static_cast<uint64_t>(p.vocab), d}, p.token_emb);
  return b;
}

}  // namespace trix::test
