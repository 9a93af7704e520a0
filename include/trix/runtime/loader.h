// GGUF -> ModelConfig + ModelWeights (+ Tokenizer): the one way a model file
// becomes something the decoder can run.
//
// Architectures and the metadata keys read (llama.cpp's names, <arch> being
// general.architecture):
//   llama          <arch>.embedding_length, feed_forward_length, block_count,
//                  attention.head_count, attention.layer_norm_rms_epsilon,
//                  context_length (required); attention.head_count_kv
//                  (default head_count), attention.key_length (default
//                  embedding_length / head_count), rope.freq_base (default
//                  10000), rope.dimension_count (must equal the head size:
//                  partial RoPE is not supported), vocab_size (must match).
//                  RoPE rotates adjacent pairs (ggml NORM), SwiGLU FFN.
//   bitnet-b1.58   (bitnet.cpp's name; its other converter's "bitnet-25" and
//                  llama.cpp's "bitnet" are the same architecture, each
//                  with its own key prefix) the same keys; RoPE NeoX halves,
//                  attn_sub_norm / ffn_sub_norm, optional per-tensor
//                  `<name>.scale` tensors (one f32) that multiply the
//                  projection's output, as llama.cpp's graph does. The FFN
//                  gate is <arch>.hidden_activation when the file states it
//                  ("relu2" or "silu"; any other value is an error naming
//                  the key), else the name's default: relu^2 for
//                  bitnet-b1.58 and bitnet-25 (the 2B-4T, which bitnet.cpp
//                  runs with relu^2), SiLU for "bitnet" (llama.cpp's
//                  graph for that name, made for the 2024 1bitLLM models).
// The vocabulary size is the length of tokenizer.ggml.tokens; token_embd (and
// output, when present) must have that many rows. Without output.weight the
// output projection is tied to token_embd.
//
// Tensors are views into the file's mapping (ggml's ne[0] is the row length,
// ne[1] the row count). Norm vectors must be F32. I2_S tensors hold rows *
// cols / 4 code bytes then a 32-byte trailer whose first f32 is the tensor
// scale; the trailer is not part of any row, and the scale goes into
// WeightView::scale.
//
// I2_S layouts: only the published file's (bitnet.cpp's x86 layout of
// 128-weight groups, trix/formats/i2_s.h) is read. bitnet.cpp quantizing
// on ARM (64-weight groups) or in its 4-rows-per-byte x86 layout writes
// the same type id 36 and the same byte count, and no metadata says which
// packing a file holds. What can be seen is refused with an error naming
// the tensor and this limit: rows that are not whole 128-weight groups and
// a missing trailer (both by the GGUF reader: row length, data 32 bytes
// short), and here a trailer scale that is negative or not finite and
// 2-bit code 3, which bitnet.cpp's quantizer never writes (bytes packed
// some other way, or not I2_S at all, usually hold it). A re-ordered file
// of 0/1/2 codes with 128-multiple rows (the ARM or 4-row packings of the
// 2B-4T's shapes) passes these checks and runs with scrambled weights:
// use the published file, or quantize from the source weights
// (trix-quantize).
//
// Every problem is a one-line trix::Error naming the file and the key or
// tensor and what was expected.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "trix/core/error.h"
#include "trix/formats/blocks.h"
#include "trix/formats/i2_s.h"
#include "trix/runtime/layers.h"
#include "trix/runtime/config.h"
#include "trix/io/gguf_reader.h"
#include "trix/runtime/matmul.h"
#include "trix/text/tokenizer.h"
#include "trix/runtime/weights.h"

namespace trix {

namespace detail {

// A positive integer hyper-parameter; any GGUF integer type whose value fits.
inline int64_t positive(const GgufReader& r, const std::string& key, int64_t max) {
  const int64_t v = r.get_i64(key);
  if (v <= 0 || v > max) {
    throw Error(r.name() + ": metadata key '" + key + "' = " + std::to_string(v) +
                ", expected a value in [1, " + std::to_string(max) + "]");
  }
  return v;
}

inline std::optional<int64_t> positive_opt(const GgufReader& r, const std::string& key,
                                           int64_t max) {
  if (!r.has(key)) return std::nullopt;
  return positive(r, key, max);
}

inline float positive_f32(const GgufReader& r, const std::string& key, std::optional<float> dflt) {
  if (!r.has(key)) {
    if (dflt) return *dflt;
    (void)r.get(key);  // throws "missing metadata key"
  }
  const float v = r.get_f32(key);
  if (!(v > 0.0f) || !std::isfinite(v)) {
    throw Error(r.name() + ": metadata key '" + key + "' = " + std::to_string(v) +
                ", expected a positive finite number");
  }
  return v;
}

inline std::string shape_str(const GgufTensor& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < t.n_dims; ++d) {
    if (d) s += ", ";
    s += std::to_string(t.ne[d]);
  }
  return s + "]";
}

}  // namespace detail

// Maps general.architecture to an Arch. Throws naming the key.
inline Arch gguf_architecture(const GgufReader& r) {
  const std::string a = r.get_string("general.architecture");
  if (a == "llama") return Arch::Llama;
  if (a == "bitnet-b1.58" || a == "bitnet-25" || a == "bitnet") return Arch::BitnetB158;
  throw Error(r.name() + ": metadata key 'general.architecture' = \"" + a +
              "\": unsupported (expected \"llama\", \"bitnet-b1.58\", \"bitnet-25\" or \"bitnet\")");
}

// The gated FFN's activation of a bitnet-family file (see the file
// comment): `<arch>.hidden_activation` if present, else the default of the
// architecture name `arch`. Throws naming the key on a value other than
// "relu2" / "silu" (also for GELU, which no TriX graph runs).
inline FfnActivation gguf_bitnet_activation(const GgufReader& r, const std::string& arch) {
  const std::string key = arch + ".hidden_activation";
  const std::optional<std::string> v = r.find_string(key);
  if (!v) return arch == "bitnet" ? FfnActivation::SiLU : FfnActivation::ReluSquared;
  if (*v == "relu2") return FfnActivation::ReluSquared;
  if (*v == "silu") return FfnActivation::SiLU;
  std::string msg = r.name();  // appended piece by piece (GCC 12 -O3 -Wrestrict on "literal" + string)
  msg += ": metadata key '";
  msg += key;
  msg += "' = \"";
  msg += *v;
  msg += "\": unsupported (expected \"relu2\" or \"silu\")";
  throw Error(msg);
}

// The hyper-parameters a GGUF file declares (see the file comment). The
// vocabulary size is the tokenizer's token count; tied_output is set from
// the presence of output.weight. Throws trix::Error naming the key.
inline ModelConfig gguf_model_config(const GgufReader& r) {
  using namespace detail;
  const Arch arch = gguf_architecture(r);
  const std::string arch_key = r.get_string("general.architecture");
  const std::string a = arch_key + ".";
  ModelConfig c = ModelConfig::defaults_for(arch);
  if (arch == Arch::BitnetB158) c.ffn_activation = gguf_bitnet_activation(r, arch_key);
  c.dim = positive(r, a + "embedding_length", 1 << 20);
  c.ffn_hidden = positive(r, a + "feed_forward_length", 1 << 22);
  c.n_layers = positive(r, a + "block_count", 1 << 12);
  c.n_heads = positive(r, a + "attention.head_count", 1 << 16);
  c.n_kv_heads = positive_opt(r, a + "attention.head_count_kv", 1 << 16).value_or(c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0) {
    throw Error(r.name() + ": metadata key '" + a + "attention.head_count_kv' = " +
                std::to_string(c.n_kv_heads) + " does not divide " + a +
                "attention.head_count = " + std::to_string(c.n_heads));
  }
  if (const auto kl = positive_opt(r, a + "attention.key_length", 1 << 16)) {
    c.head_dim = *kl;
  } else {
    if (c.dim % c.n_heads != 0) {
      throw Error(r.name() + ": metadata key '" + a + "embedding_length' = " +
                  std::to_string(c.dim) + " is not a multiple of " + a +
                  "attention.head_count = " + std::to_string(c.n_heads));
    }
    c.head_dim = c.dim / c.n_heads;
  }
  if (const auto vl = positive_opt(r, a + "attention.value_length", 1 << 16); vl && *vl != c.head_dim) {
    throw Error(r.name() + ": metadata key '" + a + "attention.value_length' = " +
                std::to_string(*vl) + ", expected the key length " + std::to_string(c.head_dim));
  }
  if (c.head_dim % 2 != 0) {
    throw Error(r.name() + ": head size " + std::to_string(c.head_dim) + " is odd; RoPE needs pairs");
  }
  if (const auto rd = positive_opt(r, a + "rope.dimension_count", 1 << 16); rd && *rd != c.head_dim) {
    throw Error(r.name() + ": metadata key '" + a + "rope.dimension_count' = " + std::to_string(*rd) +
                ", expected the head size " + std::to_string(c.head_dim) +
                " (partial RoPE is not supported)");
  }
  c.context_length = positive(r, a + "context_length", 1 << 24);
  c.rope_theta = positive_f32(r, a + "rope.freq_base", 10000.0f);
  c.rms_eps = positive_f32(r, a + "attention.layer_norm_rms_epsilon", std::nullopt);

  // The count alone: no need to decode every token string here.
  const GgufValue& tokens = r.get("tokenizer.ggml.tokens");
  const uint64_t n_vocab = tokens.is_array() && tokens.elem_type() == GgufType::STRING
                               ? tokens.array_size()
                               : r.get_array<std::string>("tokenizer.ggml.tokens").size();  // throws: mistyped
  if (n_vocab == 0 || n_vocab > (1u << 24)) {
    throw Error(r.name() + ": metadata key 'tokenizer.ggml.tokens' holds " + std::to_string(n_vocab) +
                " tokens, expected 1 .. 2^24");
  }
  c.vocab_size = static_cast<int64_t>(n_vocab);
  if (const auto vs = positive_opt(r, a + "vocab_size", 1 << 24); vs && *vs != c.vocab_size) {
    throw Error(r.name() + ": vocab size mismatch: metadata key '" + a + "vocab_size' = " +
                std::to_string(*vs) + " but 'tokenizer.ggml.tokens' holds " +
                std::to_string(c.vocab_size) + " tokens");
  }
  c.tied_output = r.find_tensor("output.weight") == nullptr;
  c.validate();
  return c;
}

// Throws unless the I2_S tensor `t` (rows x cols) can be the published
// layout (see the file comment).
inline void check_i2_s_layout(const GgufReader& r, const GgufTensor& t, int64_t rows, int64_t cols) {
  const auto fail = [&](const std::string& what) {
    std::string msg = r.name();
    msg += ": tensor '";
    msg += t.name;
    msg += "': ";
    msg += what;
    msg += ": not the published I2_S layout (128-weight groups of 32 bytes, then a 32-byte trailer "
           "holding the f32 scale), the only one TriX reads (bitnet.cpp's ARM 64-weight-group and "
           "x86 4-rows-per-byte layouts carry the same type id)";
    throw Error(msg);
  };
  const auto n_rows = static_cast<size_t>(rows), n_cols = static_cast<size_t>(cols);
  const float scale = i2_s_scale(t.data, n_rows, n_cols);
  if (!(scale >= 0.0f) || !std::isfinite(scale)) {
    std::string what = "the scale in its trailer is ";
    what += std::to_string(scale);
    fail(what + ", not a finite number >= 0");
  }
  // Code 3 in any of a byte's four fields: bits 2k and 2k+1 both set.
  const size_t n = n_rows * n_cols / 4;
  constexpr uint64_t kLow = 0x5555555555555555ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, t.data + i, 8);
    if ((w & (w >> 1) & kLow) != 0) break;
  }
  for (; i < n; ++i) {
    const uint8_t b = t.data[i];
    if ((b & (b >> 1) & 0x55) != 0) {
      std::string what = "byte ";
      what += std::to_string(i);
      fail(what + " holds 2-bit code 3, which bitnet.cpp's I2_S quantizer never writes");
    }
  }
}

// A view of tensor `name` as a rows x cols matrix (ne = {cols, rows}), or a
// 1 x cols vector when rows == 1 (ne = {cols}). Throws naming the tensor on
// absence or a wrong shape.
inline WeightView gguf_weight(const GgufReader& r, const std::string& name, int64_t rows,
                              int64_t cols, std::string_view what = {}) {
  const GgufTensor& t = r.tensor(name);
  const bool vec_ok = rows == 1 && t.n_dims == 1;
  const bool mat_ok = t.n_dims == 2 || (t.n_dims > 2 && t.ne[2] == 1 && t.ne[3] == 1);
  if (t.ne[0] != static_cast<uint64_t>(cols) || t.ne[1] != static_cast<uint64_t>(rows) ||
      !(vec_ok || mat_ok)) {
    std::string want = rows == 1 ? "[" + std::to_string(cols) + "]"
                                 : "[" + std::to_string(cols) + ", " + std::to_string(rows) + "]";
    throw Error(r.name() + ": tensor '" + name + "' has shape " + detail::shape_str(t) +
                ", expected " + want + (what.empty() ? "" : " (" + std::string(what) + ")"));
  }
  if (rows > 1 && !matvec_supported(t.format)) {
    throw Error(r.name() + ": tensor '" + name + "' has type " + format_name(t.format) +
                ", which the runtime cannot multiply");
  }
  WeightView v{t.data, t.format, rows, cols, 1.0f};
  if (t.format == FormatId::I2_S) {
    // nbytes = rows * cols / 4 + trailer was checked against the file by the reader.
    check_i2_s_layout(r, t, rows, cols);
    v.scale = i2_s_scale(t.data, static_cast<size_t>(rows), static_cast<size_t>(cols));
  }
  return v;
}

// The F32 norm vector `name` of n elements.
inline WeightView gguf_norm(const GgufReader& r, const std::string& name, int64_t n) {
  WeightView v = gguf_weight(r, name, 1, n);
  if (v.format != FormatId::F32) {
    throw Error(r.name() + ": tensor '" + name + "' has type " + format_name(v.format) +
                ", expected f32 (norm weights are kept in f32)");
  }
  return v;
}

// A projection, times its optional `<base>.scale` tensor (one f32).
inline WeightView gguf_projection(const GgufReader& r, const std::string& base, int64_t rows,
                                  int64_t cols, std::string_view what) {
  WeightView v = gguf_weight(r, base + ".weight", rows, cols, what);
  if (const GgufTensor* s = r.find_tensor(base + ".scale")) {
    if (s->format != FormatId::F32 || s->n_elements() != 1) {
      throw Error(r.name() + ": tensor '" + s->name + "' has type " + format_name(s->format) +
                  " and " + std::to_string(s->n_elements()) +
                  " elements, expected one f32 (a per-tensor scale)");
    }
    float f;
    std::memcpy(&f, s->data, sizeof f);
    if (!std::isfinite(f)) throw Error(r.name() + ": tensor '" + s->name + "' is not finite");
    v.scale *= f;
  }
  return v;
}

// Views of every tensor `c` needs, by llama.cpp's tensor names.
inline ModelWeights gguf_model_weights(const GgufReader& r, const ModelConfig& c) {
  ModelWeights w;
  for (const char* name : {"token_embd.weight", "output.weight"}) {
    const GgufTensor* t = r.find_tensor(name);
    if (t && t->n_dims == 2 && t->ne[0] == static_cast<uint64_t>(c.dim) &&
        t->ne[1] != static_cast<uint64_t>(c.vocab_size)) {
      throw Error(r.name() + ": vocab size mismatch: tensor '" + name + "' has " +
                  std::to_string(t->ne[1]) + " rows but metadata key 'tokenizer.ggml.tokens' holds " +
                  std::to_string(c.vocab_size) + " tokens");
    }
  }
  w.token_embd = gguf_weight(r, "token_embd.weight", c.vocab_size, c.dim,
                             "embedding_length x vocabulary size from tokenizer.ggml.tokens");
  w.output_norm = gguf_norm(r, "output_norm.weight", c.dim);
  w.output = c.tied_output ? w.token_embd
                           : gguf_weight(r, "output.weight", c.vocab_size, c.dim,
                                         "embedding_length x vocabulary size from tokenizer.ggml.tokens");
  const bool bitnet = c.arch == Arch::BitnetB158;
  w.layers.resize(static_cast<size_t>(c.n_layers));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "blk." + std::to_string(l) + ".";
    L.attn_norm = gguf_norm(r, p + "attn_norm.weight", c.dim);
    L.wq = gguf_projection(r, p + "attn_q", c.q_dim(), c.dim, "embedding_length x head_count * head size");
    L.wk = gguf_projection(r, p + "attn_k", c.kv_dim(), c.dim, "embedding_length x head_count_kv * head size");
    L.wv = gguf_projection(r, p + "attn_v", c.kv_dim(), c.dim, "embedding_length x head_count_kv * head size");
    L.wo = gguf_projection(r, p + "attn_output", c.dim, c.q_dim(), "head_count * head size x embedding_length");
    L.ffn_norm = gguf_norm(r, p + "ffn_norm.weight", c.dim);
    L.w_gate = gguf_projection(r, p + "ffn_gate", c.ffn_hidden, c.dim, "embedding_length x feed_forward_length");
    L.w_up = gguf_projection(r, p + "ffn_up", c.ffn_hidden, c.dim, "embedding_length x feed_forward_length");
    L.w_down = gguf_projection(r, p + "ffn_down", c.dim, c.ffn_hidden, "feed_forward_length x embedding_length");
    if (bitnet) {
      L.attn_sub_norm = gguf_norm(r, p + "attn_sub_norm.weight", c.q_dim());
      L.ffn_sub_norm = gguf_norm(r, p + "ffn_sub_norm.weight", c.ffn_hidden);
    }
  }
  return w;
}

// A loaded model: the file mapping (kept alive by the reader), its config,
// weight views into the mapping, the weights prepared for the fast kernels
// (pass `prepared` to every Decoder), and its tokenizer. Movable; the views
// stay valid because they point into the mapping, not into this object.
struct LoadedModel {
  GgufReader gguf;
  ModelConfig config;
  ModelWeights weights;
  std::shared_ptr<const PreparedModel> prepared;
  Tokenizer tokenizer;
};

// Reads config, weights and tokenizer from an open GGUF. Throws trix::Error.
inline LoadedModel load_model(GgufReader r) {
  ModelConfig c = gguf_model_config(r);
  ModelWeights w = gguf_model_weights(r, c);
  Tokenizer tok = Tokenizer::from_gguf(r);
  validate_weights(c, w);
  // Weights that prepare_model copies leave the mapping's resident pages.
  auto prepared = prepare_model(w, [&r](const void* p, size_t n) { r.release_pages(p, n); });
  return LoadedModel{std::move(r), c, std::move(w), std::move(prepared), std::move(tok)};
}

// Maps and loads `path`. Throws trix::Error naming the file and the problem.
inline LoadedModel load_model(const std::filesystem::path& path) {
  return load_model(GgufReader::open(path));
}

}  // namespace trix
