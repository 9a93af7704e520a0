// safetensors (a TriXLanguageModel state_dict, the public `trix` package
// v0.4.0's SparseLookupBlock / SparseLookupFFN parameter names) -> a GGUF of
// architecture trix_sparse_lookup (names: trix/convert/trix_lm_names.h,
// documented in specs/README.md). Every tensor is written as F32; the
// spline coefficients are written as trained (the loader makes them
// ternary), the per-tile splines.{t}.* gathered into one tensor per layer.
//
// Parameter mapping (PyTorch name -> GGUF name, shapes outermost first):
//   token_emb.weight [V, d]                 -> token_embd.weight
//   pos_emb.weight [C, d]                   -> position_embd.weight
//   blocks.{l}.ln1.{weight,bias} [d]        -> blk.{l}.attn_norm.{weight,bias}
//   blocks.{l}.attn.in_proj_{weight,bias}   -> blk.{l}.attn_qkv.{weight,bias} ([3d, d], [3d])
//   blocks.{l}.attn.out_proj.{weight,bias}  -> blk.{l}.attn_output.{weight,bias}
//   blocks.{l}.ffn.norm.{weight,bias}       -> blk.{l}.ffn_norm.{weight,bias}
//   blocks.{l}.ffn.directions [T, d]        -> blk.{l}.ffn_directions.weight
//   blocks.{l}.ffn.compress.0.{weight,bias} -> blk.{l}.ffn_compress_in.{weight,bias} ([h, d], [h])
//   blocks.{l}.ffn.compress.2.{weight,bias} -> blk.{l}.ffn_compress_out.{weight,bias} ([2, h], [2])
//   blocks.{l}.ffn.splines.{t}.coeffs [G, G, 3] -> row t of blk.{l}.ffn_spline.weight [T, G G 3]
//   blocks.{l}.ffn.splines.{t}.scale [1]    -> element t of blk.{l}.ffn_spline_scale.weight [T]
//   blocks.{l}.ffn.output_scale [1]         -> blk.{l}.ffn_output_scale.weight [1]
//   ln_f.{weight,bias}                      -> output_norm.{weight,bias}
//   lm_head.weight                          tied to token_emb.weight: if present it must hold the same values
// Buffers: blocks.{l}.ffn.cluster_assignments (arange(T) // k) gives
// tiles_per_cluster when present; tile_counts / total_count (training
// statistics) are ignored. The head count is not in a state_dict: the
// caller gives it. Layers are blocks.0 .. blocks.{L-1}, contiguous.
// Errors are trix::Error naming the file, the tensor and, for bad
// contents, its file offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "trix/convert/trix_lm_names.h"
#include "trix/core/error.h"
#include "trix/formats/blocks.h"
#include "trix/io/gguf_writer.h"
#include "trix/io/safetensors.h"

namespace trix {

struct TrixLmImportOptions {
  int64_t n_heads = 0;            // required
  int64_t tiles_per_cluster = 0;  // 0: from blocks.0.ffn.cluster_assignments
  float norm_eps = 1e-5f;         // nn.LayerNorm's default
  std::string name;               // general.name, if not empty
};

// The sizes an import writes (also what trix_lm_gguf_config reads back).
struct TrixLmImportShape {
  int64_t dim = 0, n_layers = 0, n_heads = 0, vocab = 0, context = 0;
  int64_t tiles = 0, tiles_per_cluster = 0, grid = 0, compress_hidden = 0;
  float norm_eps = 1e-5f;
};

namespace detail {

inline std::string shape_text(const std::vector<uint64_t>& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) t += ", ";
    t += std::to_string(s[i]);
  }
  return t + "]";
}

// The tensor `name`, which must have `shape`.
inline const SafetensorsTensor& st_tensor(const SafetensorsReader& st, const std::string& name,
                                          const std::vector<uint64_t>& shape) {
  const SafetensorsTensor& t = st.tensor(name);
  if (t.shape != shape) {
    throw Error(st.name() + ": tensor '" + name + "' (offset " + std::to_string(t.file_offset) + ") has shape " +
                shape_text(t.shape) + ", expected " + shape_text(shape));
  }
  return t;
}

inline uint64_t st_rows(const SafetensorsReader& st, const std::string& name, size_t dims, size_t axis) {
  const SafetensorsTensor& t = st.tensor(name);
  if (t.shape.size() != dims || t.shape[axis] == 0) {
    throw Error(st.name() + ": tensor '" + name + "' has shape " + shape_text(t.shape) + ", expected " +
                std::to_string(dims) + " non-empty dimensions");
  }
  return t.shape[axis];
}

}  // namespace detail

// Reads the sizes from the tensors' shapes (and `o`). Throws naming the
// tensor or option that is missing or inconsistent.
inline TrixLmImportShape trix_lm_import_shape(const SafetensorsReader& st, const TrixLmImportOptions& o) {
  using detail::st_rows;
  TrixLmImportShape s;
  s.vocab = static_cast<int64_t>(st_rows(st, "token_emb.weight", 2, 0));
  s.dim = static_cast<int64_t>(st_rows(st, "token_emb.weight", 2, 1));
  s.context = static_cast<int64_t>(st_rows(st, "pos_emb.weight", 2, 0));
  while (st.find("blocks." + std::to_string(s.n_layers) + ".ln1.weight")) ++s.n_layers;
  if (s.n_layers == 0) throw Error(st.name() + ": no tensor 'blocks.0.ln1.weight': not a TriXLanguageModel state_dict");
  s.tiles = static_cast<int64_t>(st_rows(st, "blocks.0.ffn.directions", 2, 0));
  s.grid = static_cast<int64_t>(st_rows(st, "blocks.0.ffn.splines.0.coeffs", 3, 0));
  s.compress_hidden = static_cast<int64_t>(st_rows(st, "blocks.0.ffn.compress.0.weight", 2, 0));
  s.norm_eps = o.norm_eps;
  if (o.n_heads <= 0 || s.dim % o.n_heads != 0) {
    throw Error(st.name() + ": the head count (" + std::to_string(o.n_heads) +
                ") must be given and divide the model width " + std::to_string(s.dim) +
                " (a state_dict does not record it)");
  }
  s.n_heads = o.n_heads;
  s.tiles_per_cluster = o.tiles_per_cluster;
  if (const SafetensorsTensor* ca = st.find("blocks.0.ffn.cluster_assignments")) {
    if (ca->dtype != "I64" || ca->shape != std::vector<uint64_t>{static_cast<uint64_t>(s.tiles)}) {
      throw Error(st.name() + ": tensor '" + ca->name + "' has dtype " + ca->dtype + " and shape " +
                  detail::shape_text(ca->shape) + ", expected I64 [" + std::to_string(s.tiles) + "]");
    }
    std::vector<int64_t> v(static_cast<size_t>(s.tiles));
    std::memcpy(v.data(), ca->bytes.data(), ca->bytes.size());
    int64_t k = 0;
    while (k < s.tiles && v[static_cast<size_t>(k)] == 0) ++k;
    for (int64_t t = 0; t < s.tiles; ++t) {
      if (v[static_cast<size_t>(t)] != t / k) {
        const uint64_t at = ca->file_offset + 8 * static_cast<uint64_t>(t);
        throw Error(st.name() + ": tensor '" + ca->name + "' (offset " + std::to_string(at) +
                    ") is not arange(tiles) // tiles_per_cluster at element " + std::to_string(t));
      }
    }
    if (o.tiles_per_cluster != 0 && o.tiles_per_cluster != k) {
      throw Error(st.name() + ": tiles_per_cluster " + std::to_string(o.tiles_per_cluster) + " given, but '" +
                  ca->name + "' says " + std::to_string(k));
    }
    s.tiles_per_cluster = k;
  }
  if (s.tiles_per_cluster <= 0 || s.tiles % s.tiles_per_cluster != 0) {
    throw Error(st.name() + ": tiles_per_cluster (" + std::to_string(s.tiles_per_cluster) +
                ") must be given (no blocks.0.ffn.cluster_assignments) and divide the tile count " +
                std::to_string(s.tiles));
  }
  return s;
}

// Writes the GGUF of `st` to `out` (finish() included).
inline TrixLmImportShape safetensors_to_trix_lm(const SafetensorsReader& st, const TrixLmImportOptions& o,
                                                GgufWriter& out) {
  namespace g = trix_lm_gguf;
  using detail::st_tensor;
  const TrixLmImportShape s = trix_lm_import_shape(st, o);
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  const uint64_t d = u(s.dim), h = u(s.compress_hidden), t = u(s.tiles), cells = u(s.grid * s.grid * 3);

  out.set_string("general.architecture", g::kArchitecture);
  if (!o.name.empty()) out.set_string("general.name", o.name);
  out.set_u32(g::kEmbeddingLength, static_cast<uint32_t>(s.dim));
  out.set_u32(g::kBlockCount, static_cast<uint32_t>(s.n_layers));
  out.set_u32(g::kHeadCount, static_cast<uint32_t>(s.n_heads));
  out.set_u32(g::kContextLength, static_cast<uint32_t>(s.context));
  out.set_f32(g::kLayerNormEpsilon, s.norm_eps);
  out.set_u32(g::kTileCount, static_cast<uint32_t>(s.tiles));
  out.set_u32(g::kTilesPerCluster, static_cast<uint32_t>(s.tiles_per_cluster));
  out.set_u32(g::kGridSize, static_cast<uint32_t>(s.grid));
  out.set_u32(g::kCompressLength, static_cast<uint32_t>(s.compress_hidden));

  // Each GGUF tensor: its name, ggml ne (row length first) and how to make
  // its f32 values; checked (shapes) before anything is written.
  struct Job {
    std::string name;
    std::vector<uint64_t> ne;
    std::function<std::vector<float>()> values;
  };
  std::vector<Job> jobs;
  const auto copy = [&](const std::string& role, int64_t layer, const std::string& src, std::vector<uint64_t> shape) {
    const SafetensorsTensor& tensor = st_tensor(st, src, shape);
    std::vector<uint64_t> ne(shape.rbegin(), shape.rend());
    jobs.push_back({g::tensor_name(role, layer), ne, [&st, &tensor] { return st.to_f32(tensor); }});
  };
  copy("token_embd", 0, "token_emb.weight", {u(s.vocab), d});
  copy("position_embd", 0, "pos_emb.weight", {u(s.context), d});
  if (const SafetensorsTensor* head = st.find("lm_head.weight")) {
    const SafetensorsTensor& embd = st_tensor(st, "lm_head.weight", {u(s.vocab), d});
    if (st.to_f32(*head) != st.to_f32(st.tensor("token_emb.weight"))) {
      throw Error(st.name() + ": tensor '" + embd.name + "' (offset " + std::to_string(embd.file_offset) +
                  ") differs from token_emb.weight, but the model ties its output to the token embedding");
    }
  }
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    copy("attn_norm", l, b + "ln1.weight", {d});
    copy("attn_norm_bias", l, b + "ln1.bias", {d});
    copy("attn_qkv", l, b + "attn.in_proj_weight", {3 * d, d});
    copy("attn_qkv_bias", l, b + "attn.in_proj_bias", {3 * d});
    copy("attn_output", l, b + "attn.out_proj.weight", {d, d});
    copy("attn_output_bias", l, b + "attn.out_proj.bias", {d});
    copy("ffn_norm", l, b + "ffn.norm.weight", {d});
    copy("ffn_norm_bias", l, b + "ffn.norm.bias", {d});
    copy("ffn_directions", l, b + "ffn.directions", {t, d});
    copy("ffn_compress_in", l, b + "ffn.compress.0.weight", {h, d});
    copy("ffn_compress_in_bias", l, b + "ffn.compress.0.bias", {h});
    copy("ffn_compress_out", l, b + "ffn.compress.2.weight", {2, h});
    copy("ffn_compress_out_bias", l, b + "ffn.compress.2.bias", {2});
    std::vector<const SafetensorsTensor*> coeffs, scales;
    for (uint64_t i = 0; i < t; ++i) {
      const std::string sp = b + "ffn.splines." + std::to_string(i) + ".";
      coeffs.push_back(&st_tensor(st, sp + "coeffs", {u(s.grid), u(s.grid), 3}));
      scales.push_back(&st_tensor(st, sp + "scale", {1}));
    }
    const auto gather = [&st](std::vector<const SafetensorsTensor*> parts) {
      return [&st, parts] {
        std::vector<float> all;
        for (const SafetensorsTensor* p : parts) {
          const std::vector<float> v = st.to_f32(*p);
          all.insert(all.end(), v.begin(), v.end());
        }
        return all;
      };
    };
    jobs.push_back({g::tensor_name("ffn_spline", l), {cells, t}, gather(coeffs)});
    jobs.push_back({g::tensor_name("ffn_spline_scale", l), {t}, gather(scales)});
    copy("ffn_output_scale", l, b + "ffn.output_scale", {1});
  }
  copy("output_norm", 0, "ln_f.weight", {d});
  copy("output_norm_bias", 0, "ln_f.bias", {d});

  for (const Job& j : jobs) out.add_tensor(j.name, FormatId::F32, j.ne);
  for (const Job& j : jobs) {
    const std::vector<float> values = j.values();
    out.write_tensor_data(std::span<const float>(values));
  }
  out.finish();
  return s;
}

}  // namespace trix
