// llama2.c checkpoint (legacy version 0) and tokenizer.bin -> GGUF.
//
// The output is the `llama` architecture with llama.cpp's metadata keys and
// tensor names, and the same conventions as llama.cpp's
// convert-llama2c-to-ggml (checked against its stories260K output):
//   * weights are copied in llama2.c's order without any permutation:
//     llama2.c's W[out][in] row-major is ggml's ne = {in, out}, and its RoPE
//     rotates adjacent pairs, which is what llama.cpp's `llama` graph does;
//   * vocabulary: id 0 is "<unk>" (UNKNOWN), ids 1/2 are "<s>"/"</s>"
//     (CONTROL; llama2.c's export writes them as "\n<s>\n"), empty pieces are
//     CONTROL, "<0xXX>" pieces are BYTE, everything else NORMAL, and each
//     space becomes SentencePiece's U+2581 word marker;
//   * bos = 1, eos = 2, unknown = 0.
// Differences, deliberate: output.weight is written only when the checkpoint
// has its own classifier (vocab_size < 0); with a shared one the runtime ties
// output to token_embd (llama.cpp's converter duplicates the embedding).
// llama.context_length is the checkpoint's seq_len (llama.cpp writes its
// n_ctx default, 128).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/io/output_file.h"
#include "trix/model/gguf.h"
#include "trix/model/tokenizer.h"

namespace trix {

// llama2.c's 7-int32 header, validated.
struct Llama2cConfig {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // always positive here; see shared_classifier
  int32_t seq_len = 0;
  bool shared_classifier = true;  // the file's vocab_size was positive

  int32_t head_size() const { return dim / n_heads; }
  int32_t kv_dim() const { return n_kv_heads * head_size(); }
};

// A llama2.c checkpoint's float arrays, as spans over the caller's buffer
// (the file's layout order; all little-endian f32, possibly unaligned, so
// they are byte spans).
struct Llama2cWeights {
  Llama2cConfig config;
  std::span<const uint8_t> token_embedding;  // [vocab][dim]
  std::span<const uint8_t> rms_att;          // [L][dim]
  std::span<const uint8_t> wq;               // [L][dim][dim]
  std::span<const uint8_t> wk;               // [L][kv_dim][dim]
  std::span<const uint8_t> wv;               // [L][kv_dim][dim]
  std::span<const uint8_t> wo;               // [L][dim][dim]
  std::span<const uint8_t> rms_ffn;          // [L][dim]
  std::span<const uint8_t> w1;               // [L][hidden][dim]
  std::span<const uint8_t> w2;               // [L][dim][hidden]
  std::span<const uint8_t> w3;               // [L][hidden][dim]
  std::span<const uint8_t> rms_final;        // [dim]
  std::span<const uint8_t> wcls;             // [vocab][dim]; == token_embedding when shared
};

// Parses and validates a checkpoint held in `bytes` (which must outlive the
// result). Throws trix::Error naming `name` and the offending field: short
// header, non-positive sizes, dim not divisible by n_heads, n_heads not a
// multiple of n_kv_heads, or a file size that differs from the one the
// header implies (given in bytes).
inline Llama2cWeights parse_llama2c_checkpoint(std::span<const uint8_t> bytes,
                                               const std::string& name) {
  constexpr uint64_t kHeader = 7 * sizeof(int32_t);
  if (bytes.size() < kHeader) {
    throw error_at(name, 0, "truncated llama2.c header: need 28 bytes (7 int32), file has " +
                                std::to_string(bytes.size()));
  }
  int32_t h[7];
  std::memcpy(h, bytes.data(), sizeof h);
  static constexpr const char* kFields[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                             "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    const bool bad = i == 5 ? (h[i] == 0 || h[i] == std::numeric_limits<int32_t>::min()) : h[i] <= 0;
    if (bad) {
      throw error_at(name, static_cast<uint64_t>(i) * 4,
                     std::string("llama2.c header field ") + kFields[i] + " = " +
                         std::to_string(h[i]) + " (expected a positive value" +
                         (i == 5 ? ", negative for a separate classifier)" : ")"));
    }
  }
  Llama2cWeights w;
  Llama2cConfig& c = w.config;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.shared_classifier = h[5] > 0;
  c.vocab_size = h[5] > 0 ? h[5] : -h[5];
  c.seq_len = h[6];
  if (c.dim % c.n_heads != 0 || c.head_size() % 2 != 0) {
    throw error_at(name, 0, "llama2.c header: dim " + std::to_string(c.dim) +
                                " must be n_heads (" + std::to_string(c.n_heads) +
                                ") times an even head size");
  }
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0) {
    throw error_at(name, 16, "llama2.c header: n_heads " + std::to_string(c.n_heads) +
                                 " must be a multiple of n_kv_heads " + std::to_string(c.n_kv_heads));
  }

  // All products fit in uint64: each factor is < 2^31 and at most three
  // multiply (2^93 would not, so the per-layer products are formed from two
  // factors first and multiplied by L with a check).
  const uint64_t dim = static_cast<uint64_t>(c.dim), hid = static_cast<uint64_t>(c.hidden_dim),
                 L = static_cast<uint64_t>(c.n_layers), V = static_cast<uint64_t>(c.vocab_size),
                 kv = static_cast<uint64_t>(c.kv_dim()), S = static_cast<uint64_t>(c.seq_len),
                 hs = static_cast<uint64_t>(c.head_size());
  uint64_t offset = kHeader;
  bool overflow = false;
  auto take = [&](uint64_t a, uint64_t b, uint64_t n_mats) {
    const uint64_t per = a * b;  // < 2^62
    uint64_t count = 0;
    if (n_mats != 0 && per > std::numeric_limits<uint64_t>::max() / 4 / n_mats) {
      overflow = true;
    } else {
      count = per * n_mats * 4;
    }
    const uint64_t start = offset;
    if (count > std::numeric_limits<uint64_t>::max() - offset) overflow = true;
    offset = overflow ? offset : offset + count;
    return std::pair<uint64_t, uint64_t>{start, count};
  };
  const auto emb = take(V, dim, 1);
  const auto ratt = take(L, dim, 1);
  const auto wq = take(dim, dim, L);
  const auto wk = take(kv, dim, L);
  const auto wv = take(kv, dim, L);
  const auto wo = take(dim, dim, L);
  const auto rffn = take(L, dim, 1);
  const auto w1 = take(hid, dim, L);
  const auto w2 = take(dim, hid, L);
  const auto w3 = take(hid, dim, L);
  const auto rfin = take(dim, 1, 1);
  take(S, hs / 2, 2);  // freq_cis_real, freq_cis_imag: unused, RoPE is recomputed
  const auto cls = c.shared_classifier ? emb : take(V, dim, 1);
  if (overflow || offset != bytes.size()) {
    throw error_at(name, 0, "llama2.c checkpoint size " + std::to_string(bytes.size()) +
                                " bytes does not match its header (dim " + std::to_string(c.dim) +
                                ", hidden " + std::to_string(c.hidden_dim) + ", layers " +
                                std::to_string(c.n_layers) + ", heads " + std::to_string(c.n_heads) +
                                "/" + std::to_string(c.n_kv_heads) + ", vocab " +
                                std::to_string(h[5]) + ", seq_len " + std::to_string(c.seq_len) +
                                "), which needs " +
                                (overflow ? std::string("more than 2^64") : std::to_string(offset)) +
                                " bytes");
  }
  auto span_of = [&](std::pair<uint64_t, uint64_t> r) {
    return bytes.subspan(static_cast<size_t>(r.first), static_cast<size_t>(r.second));
  };
  w.token_embedding = span_of(emb);
  w.rms_att = span_of(ratt);
  w.wq = span_of(wq);
  w.wk = span_of(wk);
  w.wv = span_of(wv);
  w.wo = span_of(wo);
  w.rms_ffn = span_of(rffn);
  w.w1 = span_of(w1);
  w.w2 = span_of(w2);
  w.w3 = span_of(w3);
  w.rms_final = span_of(rfin);
  w.wcls = span_of(cls);
  return w;
}

// llama2.c tokenizer.bin: raw pieces (plain spaces, as written) and scores.
struct Llama2cVocab {
  uint32_t max_token_length = 0;
  std::vector<std::string> pieces;
  std::vector<float> scores;
};

// Parses tokenizer.bin for a model of `vocab_size` tokens. Throws naming the
// file, the token id and the byte offset on truncation, a negative length or
// trailing bytes.
inline Llama2cVocab parse_llama2c_tokenizer(std::span<const uint8_t> bytes, const std::string& name,
                                            int32_t vocab_size) {
  Llama2cVocab v;
  uint64_t pos = 0;
  auto need = [&](uint64_t n, const std::string& what) {
    if (n > bytes.size() - pos) {
      throw error_at(name, pos, "truncated: need " + std::to_string(n) + " bytes for " + what +
                                    ", " + std::to_string(bytes.size() - pos) + " left");
    }
  };
  need(4, "max_token_length");
  std::memcpy(&v.max_token_length, bytes.data(), 4);
  pos = 4;
  v.pieces.reserve(static_cast<size_t>(vocab_size));
  v.scores.reserve(static_cast<size_t>(vocab_size));
  for (int32_t id = 0; id < vocab_size; ++id) {
    const std::string what = "token " + std::to_string(id);
    need(8, what + " score and length");
    float score;
    int32_t len;
    std::memcpy(&score, bytes.data() + pos, 4);
    std::memcpy(&len, bytes.data() + pos + 4, 4);
    if (len < 0) throw error_at(name, pos + 4, what + ": negative length " + std::to_string(len));
    pos += 8;
    need(static_cast<uint64_t>(len), what + " text");
    v.pieces.emplace_back(reinterpret_cast<const char*>(bytes.data() + pos), static_cast<size_t>(len));
    v.scores.push_back(score);
    pos += static_cast<uint64_t>(len);
  }
  if (pos != bytes.size()) {
    throw error_at(name, pos, std::to_string(bytes.size() - pos) + " trailing bytes after the " +
                                  std::to_string(vocab_size) + " tokens the model expects");
  }
  return v;
}

namespace llama2c_detail {

inline bool is_byte_piece(std::string_view s) {
  auto hex = [](char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F') || (ch >= 'a' && ch <= 'f');
  };
  return s.size() == 6 && s.substr(0, 3) == "<0x" && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

}  // namespace llama2c_detail

// The GGUF vocabulary llama.cpp's converter derives from tokenizer.bin (see
// the file comment): pieces with U+2581 for spaces, scores, token types.
struct GgufSpmVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

inline GgufSpmVocab llama2c_vocab_to_gguf(const Llama2cVocab& in) {
  GgufSpmVocab out;
  const size_t n = in.pieces.size();
  out.tokens.reserve(n);
  out.scores = in.scores;
  out.types.reserve(n);
  for (size_t id = 0; id < n; ++id) {
    std::string text = in.pieces[id];
    TokenType type = TokenType::Normal;
    if (id == 0) {
      text = "<unk>";
      type = TokenType::Unknown;
    } else if (id == 1) {
      text = "<s>";
      type = TokenType::Control;
    } else if (id == 2) {
      text = "</s>";
      type = TokenType::Control;
    } else if (text.empty()) {
      type = TokenType::Control;
    } else if (llama2c_detail::is_byte_piece(text)) {
      type = TokenType::Byte;
    }
    std::string escaped;
    escaped.reserve(text.size());
    for (char ch : text) {
      if (ch == ' ') {
        escaped += "\xe2\x96\x81";
      } else {
        escaped += ch;
      }
    }
    out.tokens.push_back(std::move(escaped));
    out.types.push_back(static_cast<int32_t>(type));
  }
  return out;
}

// Writes a llama-architecture GGUF (all tensors F32) from a parsed checkpoint
// and vocabulary, through trix::OutputFile (`inputs`: the files they were
// read from, which `out_path` must not be). Throws trix::Error when the
// vocabulary size differs from the checkpoint's, or on I/O failure.
inline void write_llama2c_gguf(const Llama2cWeights& w, const Llama2cVocab& vocab,
                               const std::filesystem::path& out_path,
                               const std::vector<std::filesystem::path>& inputs = {}) {
  const Llama2cConfig& c = w.config;
  if (vocab.pieces.size() != static_cast<size_t>(c.vocab_size)) {
    throw Error(out_path.string() + ": tokenizer has " + std::to_string(vocab.pieces.size()) +
                " tokens, the checkpoint expects " + std::to_string(c.vocab_size));
  }
  GgufWriter g(out_path, inputs);
  g.set_string("general.architecture", "llama");
  g.set_string("general.name", "llama");
  g.set_u32("llama.context_length", static_cast<uint32_t>(c.seq_len));
  g.set_u32("llama.embedding_length", static_cast<uint32_t>(c.dim));
  g.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  g.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  g.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  g.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  g.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_size()));
  g.set_f32("llama.rope.freq_base", 10000.0f);
  g.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  g.set_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));

  GgufSpmVocab gv = llama2c_vocab_to_gguf(vocab);
  g.set_string("tokenizer.ggml.model", "llama");
  g.set("tokenizer.ggml.tokens", GgufValue::array(std::move(gv.tokens)));
  g.set("tokenizer.ggml.scores", GgufValue::array(gv.scores));
  g.set("tokenizer.ggml.token_type", GgufValue::array(gv.types));
  g.set_u32("tokenizer.ggml.unknown_token_id", 0);
  g.set_u32("tokenizer.ggml.bos_token_id", 1);
  g.set_u32("tokenizer.ggml.eos_token_id", 2);

  const uint64_t dim = static_cast<uint64_t>(c.dim), hid = static_cast<uint64_t>(c.hidden_dim),
                 V = static_cast<uint64_t>(c.vocab_size), kv = static_cast<uint64_t>(c.kv_dim());
  // Declare every tensor first (the header needs all infos), remembering
  // where each one's bytes sit in the checkpoint; then stream them out.
  std::vector<std::span<const uint8_t>> order;
  auto add = [&](std::string name, std::initializer_list<uint64_t> ne, std::span<const uint8_t> all,
                 uint64_t layer) {
    g.add_tensor(std::move(name), FormatId::F32, ne);
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    const uint64_t bytes = n * 4;
    order.push_back(all.subspan(static_cast<size_t>(layer * bytes), static_cast<size_t>(bytes)));
  };
  add("token_embd.weight", {dim, V}, w.token_embedding, 0);
  add("output_norm.weight", {dim}, w.rms_final, 0);
  if (!c.shared_classifier) add("output.weight", {dim, V}, w.wcls, 0);
  for (uint64_t l = 0; l < static_cast<uint64_t>(c.n_layers); ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_q.weight", {dim, dim}, w.wq, l);
    add(p + "attn_k.weight", {dim, kv}, w.wk, l);
    add(p + "attn_v.weight", {dim, kv}, w.wv, l);
    add(p + "attn_output.weight", {dim, dim}, w.wo, l);
    add(p + "attn_norm.weight", {dim}, w.rms_att, l);
    add(p + "ffn_gate.weight", {dim, hid}, w.w1, l);
    add(p + "ffn_down.weight", {hid, dim}, w.w2, l);
    add(p + "ffn_up.weight", {dim, hid}, w.w3, l);
    add(p + "ffn_norm.weight", {dim}, w.rms_ffn, l);
  }
  for (const auto& bytes : order) g.write_tensor_data(bytes);
  g.finish();
}

// Converts files: checkpoint + tokenizer.bin -> out.gguf (see write_llama2c_gguf).
inline void convert_llama2c_to_gguf(const std::filesystem::path& model_path,
                                    const std::filesystem::path& tokenizer_path,
                                    const std::filesystem::path& out_path) {
  const std::vector<std::filesystem::path> inputs{model_path, tokenizer_path};
  check_output_path(out_path, inputs);  // before reading: the output may be an input
  const MappedFile model(model_path);
  const MappedFile tok(tokenizer_path);
  const Llama2cWeights w = parse_llama2c_checkpoint(model.bytes(), model_path.string());
  const Llama2cVocab v = parse_llama2c_tokenizer(tok.bytes(), tokenizer_path.string(), w.config.vocab_size);
  write_llama2c_gguf(w, v, out_path, inputs);
}

}  // namespace trix
