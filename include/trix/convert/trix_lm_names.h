// The GGUF naming of architecture trix_sparse_lookup (the TriX sparse-lookup
// language model): its metadata keys, and its tensor names by role, read
// from the model spec's generated tensor table (specs/models/
// trix_sparse_lookup_*.yaml, which all share one table), so that the loader
// (trix/runtime/trix_lm_loader.h) and the safetensors importer
// (trix/convert/safetensors_to_trix_lm.h) cannot drift apart. specs/README.md
// documents both.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "trix/core/error.h"
#include "trix/models/trix_sparse_lookup_d128_shape.h"

namespace trix::trix_lm_gguf {

inline constexpr char kArchitecture[] = "trix_sparse_lookup";
// Metadata keys (all under "trix_sparse_lookup.").
inline constexpr char kEmbeddingLength[] = "trix_sparse_lookup.embedding_length";
inline constexpr char kBlockCount[] = "trix_sparse_lookup.block_count";
inline constexpr char kHeadCount[] = "trix_sparse_lookup.attention.head_count";
inline constexpr char kContextLength[] = "trix_sparse_lookup.context_length";
inline constexpr char kLayerNormEpsilon[] = "trix_sparse_lookup.attention.layer_norm_epsilon";
inline constexpr char kTileCount[] = "trix_sparse_lookup.sparse_lookup.tile_count";
inline constexpr char kTilesPerCluster[] = "trix_sparse_lookup.sparse_lookup.tiles_per_cluster";
inline constexpr char kGridSize[] = "trix_sparse_lookup.sparse_lookup.grid_size";
inline constexpr char kCompressLength[] = "trix_sparse_lookup.sparse_lookup.compress_length";

// The GGUF name of the tensor of `role` (the spec's role names: token_embd,
// attn_qkv_bias, ffn_directions, ...), for block `layer` where the name has
// one. Throws trix::Error on an unknown role.
inline std::string tensor_name(std::string_view role, int64_t layer = 0) {
  for (const auto& t : models::TrixSparseLookupD128Shape::kTensors) {
    if (role != t.role) continue;
    std::string name = t.name;
    const size_t at = name.find("{layer}");
    if (at != std::string::npos) name.replace(at, 7, std::to_string(layer));
    return name;
  }
  std::string msg = "trix_sparse_lookup: no tensor of role '";
  msg += role;
  msg += "' in the model spec";
  throw Error(msg);
}

}  // namespace trix::trix_lm_gguf
