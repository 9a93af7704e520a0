// A tiny llama GGUF written in memory (1 layer, dim 32, 8-token SPM vocab,
// F32 weights from a fixed seed), and the broken variants of it that the
// loader and the tools must reject with a one-line error (kBadKinds), or
// that load but whose generation must stop with one (kGarbageWeightKinds). Shared by
// model_loader_test and the make_bad_gguf helper of the tool tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"

namespace trix::test {

struct TinyGgufOptions {
  std::string skip_key;         // metadata key to leave out
  int64_t embd_rows = 8;        // token_embd rows (vocab mismatch when != 8)
  int64_t vocab_size_key = 0;   // llama.vocab_size when > 0
  std::string skip_tensor;      // tensor to leave out
  uint32_t ffn_key = 64;        // llama.feed_forward_length (the tensors hold 64)
  uint32_t context_length = 16; // llama.context_length
};

inline std::string tiny_llama_gguf(const TinyGgufOptions& opt = {}) {
  constexpr uint64_t kDim = 32, kFfn = 64, kKv = 16;
  std::ostringstream os;
  GgufWriter g(os, "tiny.gguf");
  const auto u32 = [&](const std::string& k, uint32_t v) {
    if (k != opt.skip_key) g.set_u32(k, v);
  };
  const auto f32 = [&](const std::string& k, float v) {
    if (k != opt.skip_key) g.set_f32(k, v);
  };
  g.set_string("general.architecture", "llama");
  u32("llama.context_length", opt.context_length);
  u32("llama.embedding_length", kDim);
  u32("llama.feed_forward_length", opt.ffn_key);
  u32("llama.block_count", 1);
  u32("llama.attention.head_count", 4);
  u32("llama.attention.head_count_kv", 2);
  f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  f32("llama.rope.freq_base", 10000.0f);
  if (opt.vocab_size_key > 0) u32("llama.vocab_size", static_cast<uint32_t>(opt.vocab_size_key));
  g.set_string("tokenizer.ggml.model", "llama");
  if (opt.skip_key != "tokenizer.ggml.tokens") {
    g.set("tokenizer.ggml.tokens",
          GgufValue::array(std::vector<std::string>{"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a",
                                                    "b", "\xe2\x96\x81" "ab", "c", "\xe2\x96\x81"}));
  }
  g.set("tokenizer.ggml.scores",
        GgufValue::array(std::vector<float>{0, 0, 0, -1, -2, -0.5f, -3, -4}));
  g.set("tokenizer.ggml.token_type", GgufValue::array(std::vector<int32_t>{2, 3, 3, 1, 1, 1, 1, 1}));
  g.set_u32("tokenizer.ggml.bos_token_id", 1);
  g.set_u32("tokenizer.ggml.eos_token_id", 2);

  struct Pending {
    uint64_t n;
    bool norm;
  };
  std::vector<Pending> data;
  const auto add = [&](const std::string& name, std::initializer_list<uint64_t> ne, bool norm) {
    if (name == opt.skip_tensor) return;
    g.add_tensor(name, FormatId::F32, ne);
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    data.push_back({n, norm});
  };
  add("token_embd.weight", {kDim, static_cast<uint64_t>(opt.embd_rows)}, false);
  add("output_norm.weight", {kDim}, true);
  add("blk.0.attn_norm.weight", {kDim}, true);
  add("blk.0.attn_q.weight", {kDim, kDim}, false);
  add("blk.0.attn_k.weight", {kDim, kKv}, false);
  add("blk.0.attn_v.weight", {kDim, kKv}, false);
  add("blk.0.attn_output.weight", {kDim, kDim}, false);
  add("blk.0.ffn_norm.weight", {kDim}, true);
  add("blk.0.ffn_gate.weight", {kDim, kFfn}, false);
  add("blk.0.ffn_up.weight", {kDim, kFfn}, false);
  add("blk.0.ffn_down.weight", {kFfn, kDim}, false);
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (const Pending& p : data) {
    std::vector<float> v(p.n);
    for (float& x : v) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      const float u = static_cast<float>(s >> 40) / static_cast<float>(1ull << 24);  // [0, 1)
      x = p.norm ? 0.5f + u : (u - 0.5f) * 0.5f;
    }
    g.write_tensor_data(std::span<const float>(v));
  }
  g.finish();
  return os.str();
}

// tiny_llama_gguf with the options `edit` sets (designated initializers
// would trip -Wmissing-field-initializers).
template <class Edit>
std::string tiny_llama_gguf_with(Edit&& edit) {
  TinyGgufOptions o;
  edit(o);
  return tiny_llama_gguf(o);
}

// Byte position of the u64 data offset in the info of tensor `name`.
inline size_t tensor_info_offset_pos(const std::string& file, const std::string& name) {
  std::string key(8, '\0');
  const uint64_t len = name.size();
  std::memcpy(key.data(), &len, 8);
  key += name;
  const size_t at = file.find(key);
  if (at == std::string::npos) throw std::runtime_error("tensor info not found: " + name);
  size_t p = at + key.size();
  uint32_t n_dims;
  std::memcpy(&n_dims, file.data() + p, 4);
  p += 4 + 8 * n_dims;  // ne[]
  return p + 4;         // past the type
}

// `file` (a GGUF) with every f32 of tensor `name` set to `value` (all of them
// when `name` is empty). Models that load but whose weights are garbage.
inline std::string with_f32_weights(std::string file, std::string_view name, float value) {
  const auto* base = reinterpret_cast<const uint8_t*>(file.data());
  const GgufReader r = GgufReader::from_memory(std::span<const uint8_t>(base, file.size()), "tiny.gguf");
  for (const GgufTensor& t : r.tensors()) {
    if (t.format != FormatId::F32 || (!name.empty() && t.name != name)) continue;
    const size_t at = static_cast<size_t>(t.data - base);
    for (uint64_t i = 0; i < t.n_elements(); ++i) std::memcpy(file.data() + at + 4 * i, &value, 4);
  }
  return file;
}

// Models that load but must not generate: generate stops with this error.
inline constexpr const char* kGarbageWeightKinds[] = {"nan-weights", "huge-weights"};

// The broken variants (see kBadKinds) and the text their error must contain.
struct BadGguf {
  std::string bytes;
  std::string expect;  // substring of the one-line error
};

inline constexpr const char* kBadKinds[] = {"truncated",   "wrong-magic",   "offset-past-end",
                                            "unknown-type", "missing-key",  "vocab-mismatch",
                                            "vocab-key-mismatch"};

inline BadGguf bad_gguf(std::string_view kind) {
  const std::string good = tiny_llama_gguf();
  BadGguf b{good, ""};
  if (kind == "truncated") {
    b.bytes = good.substr(0, good.size() - 100);  // the last tensor loses its tail
    b.expect = "runs past the end of the data section";
  } else if (kind == "wrong-magic") {
    std::memcpy(b.bytes.data(), "GGML", 4);
    b.expect = "not a GGUF file";
  } else if (kind == "offset-past-end") {
    const uint64_t huge = uint64_t{1} << 40;  // aligned, far past the end
    std::memcpy(b.bytes.data() + tensor_info_offset_pos(good, "blk.0.ffn_down.weight"), &huge, 8);
    b.expect = "tensor 'blk.0.ffn_down.weight': data [1099511627776";
  } else if (kind == "unknown-type") {
    const uint32_t type = 9999;
    std::memcpy(b.bytes.data() + tensor_info_offset_pos(good, "blk.0.attn_q.weight") - 4, &type, 4);
    b.expect = "tensor 'blk.0.attn_q.weight': unknown or unsupported ggml type id 9999";
  } else if (kind == "missing-key") {
    b.bytes = tiny_llama_gguf_with([](TinyGgufOptions& o) { o.skip_key = "llama.block_count"; });
    b.expect = "missing metadata key 'llama.block_count'";
  } else if (kind == "vocab-mismatch") {
    b.bytes = tiny_llama_gguf_with([](TinyGgufOptions& o) { o.embd_rows = 9; });
    b.expect = "vocab size mismatch: tensor 'token_embd.weight' has 9 rows";
  } else if (kind == "vocab-key-mismatch") {
    b.bytes = tiny_llama_gguf_with([](TinyGgufOptions& o) { o.vocab_size_key = 9; });
    b.expect = "vocab size mismatch: metadata key 'llama.vocab_size' = 9";
  } else if (kind == "nan-weights") {  // one NaN in token_embd (the tied output): logit 5 is NaN
    const float nan = std::numeric_limits<float>::quiet_NaN();
    b.bytes = good;
    const auto* base = reinterpret_cast<const uint8_t*>(b.bytes.data());
    const GgufReader r = GgufReader::from_memory(std::span<const uint8_t>(base, b.bytes.size()), "tiny.gguf");
    const GgufTensor& e = r.tensor("token_embd.weight");
    std::memcpy(b.bytes.data() + (e.data - base) + 4 * (5 * e.ne[0] + 3), &nan, 4);
    b.expect = "generate: step 0: logits are not finite (NaN at token id 5)";
  } else if (kind == "huge-weights") {  // every projection weight 3e38: the products overflow
    // (Huge embeddings and norms alone would not do: RMS norm scales them
    // back to finite, if meaningless, values.)
    for (const char* t : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
      b.bytes = with_f32_weights(b.bytes, std::string("blk.0.") + t + ".weight", 3e38f);
    }
    b.expect = "generate: step 0: logits are not finite";
  } else {
    throw std::runtime_error("unknown bad GGUF kind '" + std::string(kind) + "'");
  }
  return b;
}

}  // namespace trix::test
