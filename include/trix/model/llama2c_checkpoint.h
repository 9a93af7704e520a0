// Loader for llama2.c's legacy (version 0) float32 checkpoints, such as
// ../shared/models/stories260K/stories260K.bin: 7 little-endian int32 header
// fields (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; a negative vocab_size means a separate classifier follows), then
// the f32 tensors in llama2.c's order. The tensors are copied into one owned
// buffer and exposed as ModelWeights views (F32).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/model/config.h"
#include "trix/model/weights.h"

namespace trix {

class Llama2cCheckpoint {
 public:
  // Reads and checks the whole file. Throws trix::Error naming the file and
  // the field or byte offset on any inconsistency (bad header value, size
  // that does not match the header).
  static Llama2cCheckpoint load(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw Error(path + ": cannot open file");
    const auto file_size = static_cast<uint64_t>(in.tellg());
    in.seekg(0);
    constexpr uint64_t kHeaderBytes = 7 * 4;
    if (file_size < kHeaderBytes) {
      throw error_at(path, file_size, "file ends inside the 28-byte llama2.c header");
    }
    uint8_t raw[kHeaderBytes];
    in.read(reinterpret_cast<char*>(raw), kHeaderBytes);
    int32_t h[7];
    for (int i = 0; i < 7; ++i) {
      const uint32_t u = static_cast<uint32_t>(raw[4 * i]) | static_cast<uint32_t>(raw[4 * i + 1]) << 8 |
                         static_cast<uint32_t>(raw[4 * i + 2]) << 16 |
                         static_cast<uint32_t>(raw[4 * i + 3]) << 24;
      std::memcpy(&h[i], &u, 4);
    }
    static const char* const kNames[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                                          "n_kv_heads", "vocab_size", "seq_len"};
    // Limits keep every size product below 2^60, so the size check cannot
    // overflow; real models are far inside them.
    static const int64_t kMax[7] = {1 << 20, 1 << 20, 1 << 12, 1 << 16, 1 << 16, 1 << 24, 1 << 24};
    for (int i = 0; i < 7; ++i) {
      const int64_t v = i == 5 ? std::llabs(static_cast<int64_t>(h[i])) : h[i];
      if (v <= 0 || v > kMax[i]) {
        throw error_at(path, static_cast<uint64_t>(4 * i),
                       std::string("header field ") + kNames[i] + " = " + std::to_string(h[i]) +
                           ", expected " + (i == 5 ? "a non-zero |value|" : "a value") +
                           " in [1, " + std::to_string(kMax[i]) + "]");
      }
    }
    Llama2cCheckpoint ck;
    ModelConfig& c = ck.config_;
    c = ModelConfig::defaults_for(Arch::Llama);
    c.dim = h[0];
    c.ffn_hidden = h[1];
    c.n_layers = h[2];
    c.n_heads = h[3];
    c.n_kv_heads = h[4];
    c.tied_output = h[5] > 0;
    c.vocab_size = h[5] > 0 ? h[5] : -static_cast<int64_t>(h[5]);
    c.context_length = h[6];
    c.rope_theta = 10000.0f;
    c.rope_style = RopeStyle::Adjacent;
    c.rms_eps = 1e-5f;
    if (c.dim % c.n_heads != 0) {
      throw error_at(path, 0, "dim = " + std::to_string(c.dim) + " is not a multiple of n_heads = " +
                                  std::to_string(c.n_heads));
    }
    c.head_dim = c.dim / c.n_heads;
    if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0 || c.head_dim % 2 != 0) {
      throw error_at(path, 16, "n_kv_heads = " + std::to_string(c.n_kv_heads) +
                                   " must divide n_heads = " + std::to_string(c.n_heads) +
                                   " and head_dim = dim / n_heads must be even");
    }
    c.validate();

    // Element counts of the tensors, in file order.
    const int64_t D = c.dim, H = c.ffn_hidden, L = c.n_layers, V = c.vocab_size;
    const int64_t KV = c.kv_dim(), S = c.context_length, HS2 = c.head_dim / 2;
    const int64_t counts[] = {V * D,  L * D,   L * D * D, L * KV * D, L * KV * D, L * D * D, L * D,
                              L * H * D, L * D * H, L * H * D, D, S * HS2, S * HS2,
                              c.tied_output ? 0 : V * D};
    int64_t total = 0;
    for (int64_t n : counts) total += n;
    const uint64_t expected = kHeaderBytes + static_cast<uint64_t>(total) * 4;
    if (file_size != expected) {
      throw error_at(path, file_size,
                     "file has " + std::to_string(file_size) + " bytes, expected " +
                         std::to_string(expected) + " for the shapes in its header");
    }
    ck.data_.resize(static_cast<size_t>(total));
    in.read(reinterpret_cast<char*>(ck.data_.data()), static_cast<std::streamsize>(total * 4));
    if (!in) throw error_at(path, kHeaderBytes, "read failed");
    for (float& f : ck.data_) f = from_le(f);

    // Views into data_.
    const float* p = ck.data_.data();
    const auto take = [&](int64_t n) {
      const float* at = p;
      p += n;
      return at;
    };
    const auto view = [](const float* data, int64_t rows, int64_t cols) {
      return WeightView{data, FormatId::F32, rows, cols, 1.0f};
    };
    ModelWeights& w = ck.weights_;
    w.layers.resize(static_cast<size_t>(L));
    w.token_embd = view(take(V * D), V, D);
    for (auto& l : w.layers) l.attn_norm = view(take(D), 1, D);
    for (auto& l : w.layers) l.wq = view(take(D * D), D, D);
    for (auto& l : w.layers) l.wk = view(take(KV * D), KV, D);
    for (auto& l : w.layers) l.wv = view(take(KV * D), KV, D);
    for (auto& l : w.layers) l.wo = view(take(D * D), D, D);
    for (auto& l : w.layers) l.ffn_norm = view(take(D), 1, D);
    for (auto& l : w.layers) l.w_gate = view(take(H * D), H, D);
    for (auto& l : w.layers) l.w_down = view(take(D * H), D, H);
    for (auto& l : w.layers) l.w_up = view(take(H * D), H, D);
    w.output_norm = view(take(D), 1, D);
    take(2 * S * HS2);  // freq_cis_real/imag: RoPE is recomputed
    w.output = c.tied_output ? w.token_embd : view(take(V * D), V, D);
    validate_weights(c, w);
    return ck;
  }

  const ModelConfig& config() const { return config_; }
  // Views into this object's buffer: valid while it lives (moves keep them
  // valid, since the vector's storage moves with it).
  const ModelWeights& weights() const { return weights_; }

 private:
  static float from_le(float f) {
    uint8_t b[4];
    std::memcpy(b, &f, 4);
    const uint32_t u = static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 |
                       static_cast<uint32_t>(b[2]) << 16 | static_cast<uint32_t>(b[3]) << 24;
    float out;
    std::memcpy(&out, &u, 4);
    return out;
  }

  ModelConfig config_;
  std::vector<float> data_;
  ModelWeights weights_;
};

}  // namespace trix
