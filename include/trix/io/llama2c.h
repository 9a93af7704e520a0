// llama2.c files: the legacy (version 0) float32 checkpoint and
// tokenizer.bin, parsed and validated (every size checked against the file;
// errors name the file and the byte offset). Converting them to GGUF is
// trix/convert/llama2c_to_gguf.h; running a checkpoint directly is
// trix/runtime/llama2c_checkpoint.h.
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

}  // namespace trix
