// A synthetic BitNet-b1.58 model for speed work without a 1 GB download:
// the tensor names, shapes and metadata of microsoft/bitnet-b1.58-2B-4T as
// bitnet.cpp's GGUF holds them (hidden 2560, ffn 6912, 30 layers, 20 heads,
// 5 KV heads, head dim 128, vocab 128256, rope theta 500000, relu^2 gate,
// attn/ffn sub-norms, output tied to token_embd, token_embd in Q6_K), filled
// with deterministic pseudo-random values, written through the streaming
// GGUF writer (one chunk of rows in memory at a time).
//
// Values (the same model whatever the weight format):
//   projections: t * s with t in {-1, 0, +1} uniformly, s = 2^-round(log2(
//     sqrt(cols))) per tensor (a power of two, so TQ2_0/TQ1_0's f16 block
//     scales and I2_S's f32 tensor scale hold it exactly: the packed weights
//     dequantize to exactly these values);
//   norms: F32 in [0.5, 1.5);
//   token_embd: random Q6_K blocks (random 6-bit codes, sub-block scales in
//     [8, 24), d = 2^-10); the F32 variant stores their dequantized values.
// Every row has its own generator state (seeded from the seed, the tensor
// name and the row), so any row can be regenerated alone (synthetic_row)
// and the writer can fill rows in parallel.
// The tokenizer is byte-level BPE ("gpt2", pre "llama-bpe", no merges):
// the 256 byte tokens, fillers, and special tokens at the top (the last
// 256 ids for the full vocabulary, as llama3's <|begin_of_text|> = 128000,
// <|end_of_text|> = 128001, <|start_header_id|> / <|end_header_id|> =
// 128006 / 128007 and <|eot_id|> = 128009; the last 2 for small
// vocabularies).
//
// Published layout (SyntheticBitnetOptions::published): shaped like the
// published BitNet-b1.58-2B-4T file, ggml-model-i2_s.gguf: I2_S
// projections, token_embd in F16 (the same values: the Q6_K codes above
// times 2^-10 are exact in f16) and tied (no output.weight), the same 332
// tensors for 30 layers (11 per layer, sub-norms included), and a "gpt2"
// tokenizer with no tokenizer.ggml.pre, with tokenizer.ggml.scores, merges
// (a few real ones: the first fillers become "he", "Ġt", ...), and
// add_bos_token = true; small vocabularies end in <|begin_of_text|>,
// <|end_of_text|>, <|eot_id|> (eos stays <|end_of_text|>, as in that file,
// which names no eot id either).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/fp16.h"
#include "trix/core/thread_pool.h"
#include "trix/formats/blocks.h"
#include "trix/formats/traits.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"
#include "trix/text/tokenizer.h"
#include "trix/text/unicode.h"

namespace trix {

struct SyntheticBitnetOptions {
  FormatId weight_format = FormatId::TQ2_0;  // TQ2_0, TQ1_0, I2_S or F32
  std::string arch = "bitnet-b1.58";         // or "bitnet-25", or llama.cpp's "bitnet"
  bool published = false;                    // the published file's layout (see the file comment)
  std::string hidden_activation;             // written as <arch>.hidden_activation unless empty
  int64_t n_layers = 30;
  int64_t dim = 2560;
  int64_t ffn_hidden = 6912;
  int64_t n_heads = 20;
  int64_t n_kv_heads = 5;
  int64_t vocab_size = 128256;
  int64_t context_length = 4096;
  float rope_theta = 500000.0f;
  float rms_eps = 1e-5f;
  uint64_t seed = 1;

  int64_t head_dim() const { return dim / n_heads; }
  // A 2-layer, small-vocabulary model of the same architecture for tests.
  static SyntheticBitnetOptions small(FormatId f) {
    SyntheticBitnetOptions o;
    o.weight_format = f;
    o.n_layers = 2;
    o.dim = 256;
    o.ffn_hidden = 512;
    o.n_heads = 4;
    o.n_kv_heads = 2;
    o.vocab_size = 320;
    o.context_length = 64;
    return o;
  }
  // The published file's layout (I2_S, F16 embedding, no pre, scores, ...):
  // full size, or the 2-layer test size with the same per-layer tensors.
  static SyntheticBitnetOptions published_full() {
    SyntheticBitnetOptions o;
    o.weight_format = FormatId::I2_S;
    o.published = true;
    return o;
  }
  static SyntheticBitnetOptions published_small() {
    SyntheticBitnetOptions o = small(FormatId::I2_S);
    o.published = true;
    return o;
  }
  // Throws trix::Error naming the first unusable option.
  void validate() const {
    const auto need = [](bool ok, const std::string& what) {
      if (!ok) throw Error("synthetic bitnet: " + what);
    };
    need(weight_format == FormatId::TQ2_0 || weight_format == FormatId::TQ1_0 ||
             weight_format == FormatId::I2_S || weight_format == FormatId::F32,
         "weight format must be tq2_0, tq1_0, i2_s or f32");
    need(arch == "bitnet-b1.58" || arch == "bitnet-25" || arch == "bitnet",
         "arch must be bitnet-b1.58, bitnet-25 or bitnet");
    need(!published || weight_format == FormatId::I2_S, "the published layout has i2_s weights");
    need(n_layers >= 1 && n_layers <= 1024, "layers must be in [1, 1024]");
    need(dim > 0 && dim % 256 == 0 && ffn_hidden > 0 && ffn_hidden % 256 == 0,
         "dim and ffn_hidden must be multiples of 256 (ternary and Q6_K blocks)");
    need(n_heads > 0 && dim % n_heads == 0 && head_dim() % 2 == 0, "dim / n_heads must be even");
    need(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "n_kv_heads must divide n_heads");
    need(vocab_size >= 258 && vocab_size <= (1 << 24), "vocab must be in [258, 2^24]");
    need(!published || vocab_size >= 265, "the published layout needs a vocab of at least 265 (merges, 3 specials)");
    need(context_length > 0, "context must be > 0");
  }
};

namespace detail {

inline uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Generator state of one row of one tensor.
inline uint64_t row_state(uint64_t seed, std::string_view tensor, int64_t row) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the name
  for (char c : tensor) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  uint64_t s = seed ^ h ^ (static_cast<uint64_t>(row) * 0xd1b54a32d192ed03ull);
  splitmix64(s);
  return s;
}

enum class Kind { Projection, Norm, Embedding };

inline Kind kind_of(std::string_view tensor) {
  if (tensor == "token_embd.weight") return Kind::Embedding;
  if (tensor.find("norm") != std::string_view::npos) return Kind::Norm;
  return Kind::Projection;
}

// Random Q6_K block of one embedding row (see the file comment).
inline void embedding_block(uint64_t& s, BlockQ6_K& b) {
  for (size_t i = 0; i < sizeof b.ql; i += 8) {
    const uint64_t r = splitmix64(s);
    std::memcpy(b.ql + i, &r, 8);
  }
  for (size_t i = 0; i < sizeof b.qh; i += 8) {
    const uint64_t r = splitmix64(s);
    std::memcpy(b.qh + i, &r, 8);
  }
  const uint64_t r = splitmix64(s);
  for (size_t i = 0; i < 16; ++i) b.scales[i] = static_cast<int8_t>(8 + ((r >> (4 * i)) & 15));
  b.d = fp32_to_fp16(1.0f / 1024.0f);
}

}  // namespace detail

// Scale of a ternary projection with `cols` inputs (a power of two).
inline float synthetic_projection_scale(int64_t cols) {
  return std::ldexp(1.0f, -static_cast<int>(std::lround(std::log2(std::sqrt(static_cast<double>(cols))))));
}

// Values of row `row` (cols floats) of `tensor`, as the file's weights
// dequantize (see the file comment).
inline void synthetic_row(const SyntheticBitnetOptions& o, std::string_view tensor, int64_t row,
                          int64_t cols, float* out) {
  using namespace detail;
  uint64_t s = row_state(o.seed, tensor, row);
  switch (kind_of(tensor)) {
    case Kind::Norm:
      for (int64_t i = 0; i < cols; ++i) {
        out[i] = 0.5f + static_cast<float>(splitmix64(s) >> 40) * 0x1.0p-24f;
      }
      return;
    case Kind::Embedding: {
      BlockQ6_K b;
      for (int64_t c = 0; c < cols; c += 256) {
        embedding_block(s, b);
        dequantize_row_q6_k(&b, out + c, 256);
      }
      return;
    }
    case Kind::Projection: {
      const float scale = synthetic_projection_scale(cols);
      uint64_t r = 0;
      int left = 0;
      for (int64_t i = 0; i < cols; ++i) {
        // 40 trits from each 64-bit draw (3^40 < 2^64; the bias is < 2^-0.6
        // of one part in 3^40, irrelevant here).
        if (left == 0) {
          r = splitmix64(s);
          left = 40;
        }
        out[i] = static_cast<float>(static_cast<int>(r % 3) - 1) * scale;
        r /= 3;
        --left;
      }
      return;
    }
  }
}

// The byte-level BPE vocabulary described in the file comment.
struct SyntheticVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;  // published layout only
  std::vector<float> scores;        // published layout only: -id for text tokens, 0 for specials
  int32_t bos = 0, eos = 0;
};

// The published layout's merges, in rank order ("Ġ" is the space byte).
inline constexpr std::string_view kSyntheticMerges[] = {"h e", "\xc4\xa0 t", "\xc4\xa0t h", "i n", "e r",
                                                        "\xc4\xa0th e"};

inline SyntheticVocab synthetic_vocab(int64_t vocab_size, bool published = false) {
  SyntheticVocab v;
  const bool full = vocab_size >= 128256;
  const int64_t n_special = full ? 256 : (published ? 3 : 2);
  v.bos = static_cast<int32_t>(vocab_size - n_special);
  v.eos = v.bos + 1;
  v.tokens.reserve(static_cast<size_t>(vocab_size));
  for (uint32_t b = 0; b < 256; ++b) {
    std::string t;
    unicode::utf8_append(t, detail::byte_to_codepoint()[b]);
    v.tokens.push_back(std::move(t));
  }
  if (published) {
    for (std::string_view m : kSyntheticMerges) {
      const size_t sp = m.find(' ');
      v.merges.emplace_back(m);
      v.tokens.push_back(std::string(m.substr(0, sp)) + std::string(m.substr(sp + 1)));
    }
  }
  for (auto i = static_cast<int64_t>(v.tokens.size()); i < v.bos; ++i) {
    v.tokens.push_back("<tok" + std::to_string(i) + ">");
  }
  v.tokens.push_back("<|begin_of_text|>");
  v.tokens.push_back("<|end_of_text|>");
  for (int64_t i = v.eos + 1; i < vocab_size; ++i) {
    const int64_t k = i - v.bos;  // llama3's names where it has them
    if (k == 6 && full) {
      v.tokens.push_back("<|start_header_id|>");
    } else if (k == 7 && full) {
      v.tokens.push_back("<|end_header_id|>");
    } else if ((k == 9 && full) || (k == 2 && !full)) {
      v.tokens.push_back("<|eot_id|>");
    } else {
      v.tokens.push_back("<|reserved_special_token_" + std::to_string(i - v.eos - 1) + "|>");
    }
  }
  v.types.assign(static_cast<size_t>(vocab_size), static_cast<int32_t>(TokenType::Normal));
  for (int64_t i = v.bos; i < vocab_size; ++i) {
    v.types[static_cast<size_t>(i)] = static_cast<int32_t>(TokenType::Control);
  }
  if (published) {
    v.scores.assign(static_cast<size_t>(vocab_size), 0.0f);
    for (int32_t i = 0; i < v.bos; ++i) v.scores[static_cast<size_t>(i)] = -static_cast<float>(i);
  }
  return v;
}

// One tensor of the model: name, rows x cols, format.
struct SyntheticTensor {
  std::string name;
  int64_t rows;  // 1 for norm vectors
  int64_t cols;
  FormatId format;
};

// The tensors in file order (llama.cpp's names; output tied to token_embd).
inline std::vector<SyntheticTensor> synthetic_tensors(const SyntheticBitnetOptions& o) {
  const FormatId w = o.weight_format;
  const FormatId embd = o.published ? FormatId::F16 : (w == FormatId::F32 ? FormatId::F32 : FormatId::Q6_K);
  const int64_t q = o.n_heads * o.head_dim(), kv = o.n_kv_heads * o.head_dim();
  std::vector<SyntheticTensor> t;
  t.push_back({"token_embd.weight", o.vocab_size, o.dim, embd});
  for (int64_t l = 0; l < o.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", 1, o.dim, FormatId::F32});
    t.push_back({p + "attn_q.weight", q, o.dim, w});
    t.push_back({p + "attn_k.weight", kv, o.dim, w});
    t.push_back({p + "attn_v.weight", kv, o.dim, w});
    t.push_back({p + "attn_sub_norm.weight", 1, q, FormatId::F32});
    t.push_back({p + "attn_output.weight", o.dim, q, w});
    t.push_back({p + "ffn_norm.weight", 1, o.dim, FormatId::F32});
    t.push_back({p + "ffn_gate.weight", o.ffn_hidden, o.dim, w});
    t.push_back({p + "ffn_up.weight", o.ffn_hidden, o.dim, w});
    t.push_back({p + "ffn_sub_norm.weight", 1, o.ffn_hidden, FormatId::F32});
    t.push_back({p + "ffn_down.weight", o.dim, o.ffn_hidden, w});
  }
  t.push_back({"output_norm.weight", 1, o.dim, FormatId::F32});
  return t;
}

namespace detail {

// Bytes of `n_rows` rows starting at `row0` of tensor `t` in its format.
inline void encode_rows(const SyntheticBitnetOptions& o, const SyntheticTensor& t, int64_t row0,
                        int64_t n_rows, size_t row_bytes, uint8_t* out, ThreadPool& pool) {
  pool.parallel_for(static_cast<size_t>(n_rows), [&](size_t i, size_t) {
    const int64_t r = row0 + static_cast<int64_t>(i);
    uint8_t* dst = out + i * row_bytes;
    const size_t cols = static_cast<size_t>(t.cols);
    if (t.format == FormatId::Q6_K) {  // the embedding, generated as blocks
      uint64_t s = row_state(o.seed, t.name, r);
      auto* blocks = reinterpret_cast<BlockQ6_K*>(dst);
      for (size_t b = 0; b < cols / 256; ++b) embedding_block(s, blocks[b]);
      return;
    }
    std::vector<float> x(cols);
    synthetic_row(o, t.name, r, t.cols, x.data());
    // The format's own quantizer, as trix-quantize would run it (the
    // values are exact in every allowed format: see the file comment).
    const FormatTraits& f = format_traits(t.format);
    if (f.quantize_row) {
      f.quantize_row(x.data(), dst, cols);
    } else {
      // Per-tensor scale (I2_S): one row is a 1 x cols tensor whose codes
      // are the row's bytes of the whole tensor (groups never cross rows).
      std::vector<uint8_t> one(format_nbytes(f, cols));
      f.quantize_rows_tensor_scale(x.data(), 1, cols, one.data());
      std::memcpy(dst, one.data(), row_bytes);
    }
  });
}

}  // namespace detail

// Writes the model to `path` (through trix::OutputFile: nothing appears
// under `path` until the whole file is written). Throws trix::Error on bad
// options, a `path` that is not a regular file, or I/O.
inline void write_synthetic_bitnet(const SyntheticBitnetOptions& o, const std::filesystem::path& path,
                                   ThreadPool& pool) {
  o.validate();
  GgufWriter g(path);
  const std::string a = o.arch + ".";
  g.set_string("general.architecture", o.arch);
  std::string name = "trix synthetic bitnet-b1.58 (";
  name += format_info(o.weight_format).name;
  name += o.published ? ", published layout)" : ")";
  g.set_string("general.name", name);
  g.set_u32(a + "vocab_size", static_cast<uint32_t>(o.vocab_size));
  g.set_u32(a + "context_length", static_cast<uint32_t>(o.context_length));
  g.set_u32(a + "embedding_length", static_cast<uint32_t>(o.dim));
  g.set_u32(a + "block_count", static_cast<uint32_t>(o.n_layers));
  g.set_u32(a + "feed_forward_length", static_cast<uint32_t>(o.ffn_hidden));
  g.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(o.head_dim()));
  g.set_u32(a + "attention.head_count", static_cast<uint32_t>(o.n_heads));
  g.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(o.n_kv_heads));
  g.set_f32(a + "rope.freq_base", o.rope_theta);
  g.set_f32(a + "attention.layer_norm_rms_epsilon", o.rms_eps);
  if (!o.hidden_activation.empty()) g.set_string(a + "hidden_activation", o.hidden_activation);
  SyntheticVocab v = synthetic_vocab(o.vocab_size, o.published);
  g.set_string("tokenizer.ggml.model", "gpt2");
  if (!o.published) g.set_string("tokenizer.ggml.pre", "llama-bpe");
  g.set("tokenizer.ggml.tokens", GgufValue::array(std::move(v.tokens)));
  if (o.published) g.set("tokenizer.ggml.scores", GgufValue::array(v.scores));
  g.set("tokenizer.ggml.token_type", GgufValue::array(v.types));
  g.set("tokenizer.ggml.merges", GgufValue::array(std::move(v.merges)));
  g.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
  g.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
  if (o.published) g.set_bool("tokenizer.ggml.add_bos_token", true);

  const std::vector<SyntheticTensor> tensors = synthetic_tensors(o);
  for (const auto& t : tensors) {
    if (t.rows == 1) {
      g.add_tensor(t.name, t.format, {static_cast<uint64_t>(t.cols)});
    } else {
      g.add_tensor(t.name, t.format, {static_cast<uint64_t>(t.cols), static_cast<uint64_t>(t.rows)});
    }
  }
  std::vector<uint8_t> chunk;
  for (const auto& t : tensors) {
    const FormatInfo& f = format_info(t.format);
    const size_t row_bytes = static_cast<size_t>(t.cols / f.block_elements * f.block_bytes);
    // Rows in chunks of about 8 MiB keep memory flat for the 128256-row embedding.
    const int64_t per_chunk =
        std::max<int64_t>(1, std::min<int64_t>(t.rows, static_cast<int64_t>((8u << 20) / row_bytes)));
    chunk.resize(static_cast<size_t>(per_chunk) * row_bytes);
    for (int64_t r = 0; r < t.rows; r += per_chunk) {
      const int64_t n = std::min(per_chunk, t.rows - r);
      detail::encode_rows(o, t, r, n, row_bytes, chunk.data(), pool);
      g.write_tensor_data(std::span<const uint8_t>(chunk.data(), static_cast<size_t>(n) * row_bytes));
    }
    if (format_traits(t.format).tensor_scale) {  // trailer: the tensor scale, then zeros
      std::vector<uint8_t> trailer(f.trailer_bytes, 0);
      const float scale = synthetic_projection_scale(t.cols);
      std::memcpy(trailer.data(), &scale, sizeof scale);
      g.write_tensor_data(std::span<const uint8_t>(trailer.data(), trailer.size()));
    }
  }
  g.finish();
}

}  // namespace trix
