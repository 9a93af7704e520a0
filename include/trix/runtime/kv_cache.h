// Key/value cache of one sequence: layout [layer][position][kv_head][head_dim],
// so that one position of one layer is a contiguous kv_dim vector (one store
// per token) and attention walks positions with a fixed stride.
//
// f16 storage halves the memory traffic of attention at long contexts; values
// are rounded once on store (round to nearest even) and widened on read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/fp16.h"

namespace trix {

enum class KvType : uint8_t { F32, F16 };

class KvCache {
 public:
  KvCache() = default;
  KvCache(int64_t n_layers, int64_t n_kv_heads, int64_t head_dim, int64_t context_length,
          KvType type = KvType::F32)
      : type_(type),
        n_layers_(n_layers),
        n_kv_heads_(n_kv_heads),
        head_dim_(head_dim),
        context_length_(context_length) {
    if (n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0 || context_length <= 0) {
      throw Error("kv cache: n_layers, n_kv_heads, head_dim and context_length must be > 0 (got " +
                  std::to_string(n_layers) + ", " + std::to_string(n_kv_heads) + ", " +
                  std::to_string(head_dim) + ", " + std::to_string(context_length) + ")");
    }
    const size_t n = static_cast<size_t>(n_layers * context_length * kv_dim());
    if (type == KvType::F32) {
      k32_.assign(n, 0.0f);
      v32_.assign(n, 0.0f);
    } else {
      k16_.assign(n, 0);
      v16_.assign(n, 0);
    }
  }

  KvType type() const { return type_; }
  int64_t n_layers() const { return n_layers_; }
  int64_t n_kv_heads() const { return n_kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t kv_dim() const { return n_kv_heads_ * head_dim_; }
  int64_t context_length() const { return context_length_; }
  size_t bytes() const {
    return (k32_.size() + v32_.size()) * sizeof(float) + (k16_.size() + v16_.size()) * 2;
  }

  // Throws trix::Error unless 0 <= layer < n_layers and 0 <= pos < context_length.
  void check(int64_t layer, int64_t pos) const {
    if (layer < 0 || layer >= n_layers_) {
      throw Error("kv cache: layer " + std::to_string(layer) + " out of range [0, " +
                  std::to_string(n_layers_) + ")");
    }
    if (pos < 0 || pos >= context_length_) {
      throw Error("kv cache: position " + std::to_string(pos) +
                  " out of range [0, context_length = " + std::to_string(context_length_) + ")");
    }
  }

  // Stores the kv_dim-long key and value of one token (all kv heads).
  void store(int64_t layer, int64_t pos, const float* k, const float* v) {
    check(layer, pos);
    const size_t off = offset(layer, pos);
    const size_t n = static_cast<size_t>(kv_dim());
    if (type_ == KvType::F32) {
      for (size_t i = 0; i < n; ++i) k32_[off + i] = k[i];
      for (size_t i = 0; i < n; ++i) v32_[off + i] = v[i];
    } else {
      for (size_t i = 0; i < n; ++i) k16_[off + i] = fp32_to_fp16(k[i]);
      for (size_t i = 0; i < n; ++i) v16_[off + i] = fp32_to_fp16(v[i]);
    }
  }

  // Raw storage of one layer, for attention kernels: element (pos, head, i)
  // is at [pos * kv_dim + head * head_dim + i]. T is float for F32 storage and
  // uint16_t (IEEE half bits) for F16; asking for the other type is a bug.
  template <class T>
  const T* keys(int64_t layer) const { return layer_ptr<T>(layer, true); }
  template <class T>
  const T* values(int64_t layer) const { return layer_ptr<T>(layer, false); }

  // One element widened to float; bounds-checked (for tests and debugging).
  float key_at(int64_t layer, int64_t pos, int64_t head, int64_t i) const {
    return element(layer, pos, head, i, true);
  }
  float value_at(int64_t layer, int64_t pos, int64_t head, int64_t i) const {
    return element(layer, pos, head, i, false);
  }

 private:
  size_t offset(int64_t layer, int64_t pos) const {
    return static_cast<size_t>((layer * context_length_ + pos) * kv_dim());
  }

  template <class T>
  const T* layer_ptr(int64_t layer, bool key) const {
    check(layer, 0);
    const size_t off = offset(layer, 0);
    if constexpr (std::is_same_v<T, float>) {
      if (type_ != KvType::F32) throw Error("kv cache: f32 access to an f16 cache");
      return (key ? k32_.data() : v32_.data()) + off;
    } else {
      static_assert(std::is_same_v<T, uint16_t>, "KvCache stores float or uint16_t (f16 bits)");
      if (type_ != KvType::F16) throw Error("kv cache: f16 access to an f32 cache");
      return (key ? k16_.data() : v16_.data()) + off;
    }
  }

  float element(int64_t layer, int64_t pos, int64_t head, int64_t i, bool key) const {
    check(layer, pos);
    if (head < 0 || head >= n_kv_heads_ || i < 0 || i >= head_dim_) {
      throw Error("kv cache: head " + std::to_string(head) + " / index " + std::to_string(i) +
                  " out of range (" + std::to_string(n_kv_heads_) + " heads of " +
                  std::to_string(head_dim_) + ")");
    }
    const size_t at = offset(layer, pos) + static_cast<size_t>(head * head_dim_ + i);
    if (type_ == KvType::F32) return key ? k32_[at] : v32_[at];
    return fp16_to_fp32(key ? k16_[at] : v16_[at]);
  }

  KvType type_ = KvType::F32;
  int64_t n_layers_ = 0;
  int64_t n_kv_heads_ = 0;
  int64_t head_dim_ = 0;
  int64_t context_length_ = 0;
  std::vector<float> k32_, v32_;
  std::vector<uint16_t> k16_, v16_;
};

}  // namespace trix
