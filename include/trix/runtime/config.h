// Hyper-parameters of a decoder-only transformer, filled by a loader (GGUF,
// llama2.c checkpoint) or written by hand / by a model spec, and checked once
// by validate() so that the forward pass can trust them.
#pragma once

#include <cstdint>
#include <string>

#include "trix/core/error.h"

namespace trix {

enum class Arch : uint8_t {
  Llama,       // RMSNorm, GQA attention, RoPE, SwiGLU FFN
  BitnetB158,  // bitnet-b1.58 / bitnet-25 / llama.cpp "bitnet": + attn_sub_norm, ffn_sub_norm, relu^2 gate by default
};

// Which elements RoPE rotates together. Adjacent is llama2.c and ggml's
// "NORM" mode (pairs 2i, 2i+1); NeoxHalves is ggml's "NEOX" mode (pairs i,
// i + head_dim/2), which llama.cpp uses for LLM_ARCH_BITNET.
enum class RopeStyle : uint8_t { Adjacent, NeoxHalves };

// The gate activation of the gated FFN: down(act(gate(x)) * up(x)).
enum class FfnActivation : uint8_t { SiLU, ReluSquared };

inline const char* arch_name(Arch a) {
  return a == Arch::Llama ? "llama" : "bitnet-b1.58";
}

struct ModelConfig {
  Arch arch = Arch::Llama;
  int64_t dim = 0;             // residual stream width (n_embd)
  int64_t ffn_hidden = 0;      // FFN inner width (n_ff)
  int64_t n_layers = 0;
  int64_t n_heads = 0;         // query heads
  int64_t n_kv_heads = 0;      // key/value heads (GQA when < n_heads)
  int64_t head_dim = 0;        // usually dim / n_heads
  int64_t vocab_size = 0;
  int64_t context_length = 0;  // KV cache capacity in positions
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::Adjacent;
  FfnActivation ffn_activation = FfnActivation::SiLU;
  float rms_eps = 1e-5f;
  bool tied_output = true;     // output projection reuses token_embd

  int64_t q_dim() const { return n_heads * head_dim; }
  int64_t kv_dim() const { return n_kv_heads * head_dim; }

  // Llama defaults: SiLU gate and adjacent RoPE; BitNet b1.58 as bitnet.cpp
  // runs the 2B-4T: relu^2 gate and NeoX RoPE. Loaders may still override
  // either (the GGUF loader sets the gate from <arch>.hidden_activation, and
  // SiLU for llama.cpp's "bitnet": trix/runtime/loader.h).
  static ModelConfig defaults_for(Arch a) {
    ModelConfig c;
    c.arch = a;
    if (a == Arch::BitnetB158) {
      c.rope_style = RopeStyle::NeoxHalves;
      c.ffn_activation = FfnActivation::ReluSquared;
      c.rope_theta = 500000.0f;
    }
    return c;
  }

  // Throws trix::Error naming the first field that is out of range.
  void validate() const {
    auto need = [](bool ok, const char* field, const std::string& expected, int64_t got) {
      if (!ok) {
        throw Error(std::string("model config: ") + field + " = " + std::to_string(got) +
                    ", expected " + expected);
      }
    };
    need(dim > 0, "dim", "> 0", dim);
    need(ffn_hidden > 0, "ffn_hidden", "> 0", ffn_hidden);
    need(n_layers > 0, "n_layers", "> 0", n_layers);
    need(n_heads > 0, "n_heads", "> 0", n_heads);
    need(n_kv_heads > 0 && n_heads % n_kv_heads == 0, "n_kv_heads",
         "> 0 and dividing n_heads = " + std::to_string(n_heads), n_kv_heads);
    need(head_dim > 0 && head_dim % 2 == 0, "head_dim", "even and > 0", head_dim);
    need(vocab_size > 0, "vocab_size", "> 0", vocab_size);
    need(context_length > 0, "context_length", "> 0", context_length);
    if (!(rope_theta > 0.0f)) throw Error("model config: rope_theta must be > 0");
    if (!(rms_eps > 0.0f)) throw Error("model config: rms_eps must be > 0");
  }
};

}  // namespace trix
