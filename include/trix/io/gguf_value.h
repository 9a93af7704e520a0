// GGUF (v2/v3, little-endian) metadata: the value types as numbered in the
// file, the constants of the format, GgufValue, one metadata value (a
// scalar, a string, or an array kept as its encoded bytes and decoded on
// access), and GgufTensor, a tensor's description and bytes. Shared by the
// reader (trix/io/gguf_reader.h) and the writer (trix/io/gguf_writer.h).
//
// Layout reference: ggml's docs/gguf.md.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/formats/blocks.h"
namespace trix {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader/writer assumes a little-endian host");

// Metadata value types, numbered as in the file.
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

inline constexpr uint32_t kGgufMagic = 0x46554747u;  // "GGUF" read as LE u32
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr uint32_t kGgufMaxDims = 4;

inline const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "string";
    case GgufType::ARRAY: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return "unknown";
}

// Size in bytes of a fixed-size value type; 0 for STRING and ARRAY.
inline constexpr uint64_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::STRING: case GgufType::ARRAY: return 0;
  }
  return 0;
}

namespace detail {

template <class T> struct type_of;  // C++ type -> GgufType (scalars only)
template <> struct type_of<uint8_t> { static constexpr GgufType value = GgufType::U8; };
template <> struct type_of<int8_t> { static constexpr GgufType value = GgufType::I8; };
template <> struct type_of<uint16_t> { static constexpr GgufType value = GgufType::U16; };
template <> struct type_of<int16_t> { static constexpr GgufType value = GgufType::I16; };
template <> struct type_of<uint32_t> { static constexpr GgufType value = GgufType::U32; };
template <> struct type_of<int32_t> { static constexpr GgufType value = GgufType::I32; };
template <> struct type_of<float> { static constexpr GgufType value = GgufType::F32; };
template <> struct type_of<bool> { static constexpr GgufType value = GgufType::BOOL; };
template <> struct type_of<uint64_t> { static constexpr GgufType value = GgufType::U64; };
template <> struct type_of<int64_t> { static constexpr GgufType value = GgufType::I64; };
template <> struct type_of<double> { static constexpr GgufType value = GgufType::F64; };

template <class T>
concept Scalar = requires { type_of<T>::value; };

inline bool is_integer(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64:
      return true;
    default:
      return false;
  }
}

inline bool is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 ||
         t == GgufType::I64;
}

// Sign- or zero-extends `size` little-endian bytes into 64 bits.
inline uint64_t load_bits(const uint8_t* p, GgufType t) {
  uint64_t v = 0;
  const uint64_t n = gguf_scalar_size(t);
  std::memcpy(&v, p, n);
  if (is_signed(t) && n < 8 && (v >> (n * 8 - 1)) & 1u) v |= ~0ull << (n * 8);
  return v;
}

template <class T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Sizes of encoded GGUF array items. The bytes are trusted: the reader has
// validated them, or GgufValue encoded them itself.
inline uint64_t encoded_array_bytes(const uint8_t* p);
inline uint64_t encoded_items_bytes(GgufType elem, uint64_t count, const uint8_t* p) {
  if (elem == GgufType::STRING) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < count; ++i) n += 8 + load_le<uint64_t>(p + n);
    return n;
  }
  if (elem == GgufType::ARRAY) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < count; ++i) n += encoded_array_bytes(p + n);
    return n;
  }
  return count * gguf_scalar_size(elem);
}
// One encoded array: u32 element type, u64 count, the items.
inline uint64_t encoded_array_bytes(const uint8_t* p) {
  const auto elem = static_cast<GgufType>(load_le<uint32_t>(p));
  return 12 + encoded_items_bytes(elem, load_le<uint64_t>(p + 4), p + 12);
}

}  // namespace detail

// A view of the items of an array of strings (T = std::string) or of arrays
// (T = GgufValue): their encoded GGUF bytes, decoded one at a time on
// iteration. A file's 10 million tiny arrays cost their 12 bytes each, not
// one GgufValue (and its vectors) each. Valid while the GgufValue it came
// from lives.
template <class T>
class GgufEncodedItems {
 public:
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(const uint8_t* p) : p_(p) {}
    T operator*() const {
      if constexpr (std::is_same_v<T, std::string>) {
        const auto n = detail::load_le<uint64_t>(p_);
        return std::string(reinterpret_cast<const char*>(p_ + 8), static_cast<size_t>(n));
      } else {
        return T::decode_array(p_);
      }
    }
    iterator& operator++() {
      if constexpr (std::is_same_v<T, std::string>) {
        p_ += 8 + detail::load_le<uint64_t>(p_);
      } else {
        p_ += detail::encoded_array_bytes(p_);
      }
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const iterator&) const = default;

   private:
    const uint8_t* p_ = nullptr;
  };

  // The item count lives in the owning GgufValue (array_size()).
  GgufEncodedItems() = default;
  explicit GgufEncodedItems(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  iterator begin() const { return iterator(bytes_.data()); }
  iterator end() const { return iterator(bytes_.data() + bytes_.size()); }
  std::vector<T> to_vector() const {
    std::vector<T> out;
    for (auto it = begin(); it != end(); ++it) out.push_back(*it);
    return out;
  }

 private:
  std::span<const uint8_t> bytes_;
};

// One metadata value: a scalar, a string, or an array (of scalars, strings or
// further arrays). Arrays keep their elements' encoded little-endian bytes
// (strings length-prefixed, nested arrays whole), so a value costs about what
// it takes in the file: a 128k-entry score table 512 KiB, not 128k objects.
class GgufValue {
 public:
  GgufValue() = default;

  template <detail::Scalar T>
  static GgufValue scalar(T v) {
    GgufValue out;
    out.type_ = detail::type_of<T>::value;
    if constexpr (std::is_same_v<T, bool>) {
      out.bits_ = v ? 1 : 0;
    } else {
      std::memcpy(&out.bits_, &v, sizeof v);
      out.bits_ = detail::load_bits(reinterpret_cast<const uint8_t*>(&out.bits_), out.type_);
    }
    return out;
  }
  static GgufValue string(std::string s) {
    GgufValue out;
    out.type_ = GgufType::STRING;
    out.str_ = std::move(s);
    return out;
  }
  template <detail::Scalar T>
  static GgufValue array(std::span<const T> items) {
    GgufValue out;
    out.type_ = GgufType::ARRAY;
    out.elem_type_ = detail::type_of<T>::value;
    out.count_ = items.size();
    out.raw_.resize(items.size() * sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < items.size(); ++i) out.raw_[i] = items[i] ? 1 : 0;
    } else if (!items.empty()) {
      std::memcpy(out.raw_.data(), items.data(), out.raw_.size());
    }
    return out;
  }
  template <detail::Scalar T>
  static GgufValue array(const std::vector<T>& items) {
    return array(std::span<const T>(items.data(), items.size()));
  }
  static GgufValue array(const std::vector<std::string>& items) {
    GgufValue out;
    out.type_ = GgufType::ARRAY;
    out.elem_type_ = GgufType::STRING;
    out.count_ = items.size();
    std::vector<uint8_t> bytes;
    for (const std::string& s : items) append_string(bytes, s);
    out.raw_ = std::move(bytes);
    return out;
  }
  // Array of arrays; every item must itself be an array (else trix::Error).
  static GgufValue array_of_arrays(const std::vector<GgufValue>& items) {
    GgufValue out;
    out.type_ = GgufType::ARRAY;
    out.elem_type_ = GgufType::ARRAY;
    out.count_ = items.size();
    std::vector<uint8_t> bytes;
    for (const GgufValue& a : items) {
      if (!a.is_array()) throw Error("GgufValue::array_of_arrays: an item is not an array");
      a.append_encoded_array(bytes);
    }
    out.raw_ = std::move(bytes);
    return out;
  }

  GgufType type() const { return type_; }
  // Element type of an array (meaningless for other types).
  GgufType elem_type() const { return elem_type_; }
  bool is_array() const { return type_ == GgufType::ARRAY; }
  uint64_t array_size() const { return count_; }

  // Scalar accessors: nullopt when the value is of another kind or does not
  // fit T. Integers convert between widths only when the value fits;
  // floats accept F32 and F64.
  template <class T>
  std::optional<T> as() const {
    if constexpr (std::is_same_v<T, bool>) {
      if (type_ != GgufType::BOOL) return std::nullopt;
      return bits_ != 0;
    } else if constexpr (std::is_floating_point_v<T>) {
      if (type_ == GgufType::F32) {
        float f;
        const uint32_t b = static_cast<uint32_t>(bits_);
        std::memcpy(&f, &b, sizeof f);
        return static_cast<T>(f);
      }
      if (type_ == GgufType::F64) {
        double d;
        std::memcpy(&d, &bits_, sizeof d);
        return static_cast<T>(d);
      }
      return std::nullopt;
    } else if constexpr (std::is_integral_v<T>) {
      if (!detail::is_integer(type_)) return std::nullopt;
      if (detail::is_signed(type_)) {
        const auto v = static_cast<int64_t>(bits_);
        if (!std::in_range<T>(v)) return std::nullopt;
        return static_cast<T>(v);
      }
      if (!std::in_range<T>(bits_)) return std::nullopt;
      return static_cast<T>(bits_);
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (type_ != GgufType::STRING) return std::nullopt;
      return str_;
    } else {
      static_assert(!sizeof(T*), "GgufValue::as<T>: T must be an arithmetic type or std::string");
    }
  }
  const std::string& str() const { return str_; }

  // Array element access; empty when the element type differs (exact match
  // required: a file storing i32 scores is a different file).
  template <detail::Scalar T>
  std::optional<std::vector<T>> array_as() const {
    if (type_ != GgufType::ARRAY || elem_type_ != detail::type_of<T>::value) return std::nullopt;
    std::vector<T> out(count_);
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < count_; ++i) out[i] = raw_[i] != 0;
    } else if (count_ != 0) {
      std::memcpy(out.data(), raw_.data(), count_ * sizeof(T));
    }
    return out;
  }
  // The items of an array of strings / of arrays, decoded (a copy); empty
  // for other values. string_items() / array_items() iterate without one.
  std::vector<std::string> strings() const { return string_items().to_vector(); }
  std::vector<GgufValue> arrays() const { return array_items().to_vector(); }
  GgufEncodedItems<std::string> string_items() const {
    return GgufEncodedItems<std::string>(items_of(GgufType::STRING));
  }
  GgufEncodedItems<GgufValue> array_items() const {
    return GgufEncodedItems<GgufValue>(items_of(GgufType::ARRAY));
  }
  // Raw little-endian bytes of a scalar array (empty for other values).
  std::span<const uint8_t> raw() const {
    return type_ == GgufType::ARRAY && elem_type_ != GgufType::STRING && elem_type_ != GgufType::ARRAY
               ? std::span<const uint8_t>(raw_)
               : std::span<const uint8_t>();
  }

  // Human-readable one-line summary (for tools), arrays abbreviated.
  std::string to_string(size_t max_items = 8) const {
    std::string s;
    switch (type_) {
      case GgufType::STRING:
        s = "\"" + str_ + "\"";
        break;
      case GgufType::BOOL:
        s = bits_ ? "true" : "false";
        break;
      case GgufType::F32: case GgufType::F64:
        s = std::to_string(*as<double>());
        break;
      case GgufType::ARRAY: {
        s = std::string("[") + gguf_type_name(elem_type_) + " x " + std::to_string(count_) + "]";
        const size_t n = static_cast<size_t>(std::min<uint64_t>(count_, max_items));
        if (n == 0) break;
        s += " {";
        auto str_it = string_items().begin();
        auto arr_it = array_items().begin();
        for (size_t i = 0; i < n; ++i) {
          if (i) s += ", ";
          if (elem_type_ == GgufType::STRING) {
            s += "\"" + *str_it++ + "\"";
          } else if (elem_type_ == GgufType::ARRAY) {
            s += (*arr_it++).to_string(max_items);
          } else {
            s += element(i).to_string();
          }
        }
        if (n < count_) s += ", ...";
        s += "}";
        break;
      }
      default:
        s = detail::is_signed(type_) ? std::to_string(static_cast<int64_t>(bits_))
                                           : std::to_string(bits_);
    }
    return s;
  }

  // Element i of a scalar array, as a scalar value.
  GgufValue element(size_t i) const {
    GgufValue v;
    v.type_ = elem_type_;
    v.bits_ = detail::load_bits(raw_.data() + i * gguf_scalar_size(elem_type_), elem_type_);
    return v;
  }

  // The array encoded at p (u32 element type, u64 count, items), whose
  // bytes are trusted (validated by the reader or written by this class).
  static GgufValue decode_array(const uint8_t* p) {
    GgufValue v;
    v.type_ = GgufType::ARRAY;
    v.elem_type_ = static_cast<GgufType>(detail::load_le<uint32_t>(p));
    v.count_ = detail::load_le<uint64_t>(p + 4);
    const uint8_t* items = p + 12;
    const uint64_t n = detail::encoded_items_bytes(v.elem_type_, v.count_, items);
    v.raw_.assign(items, items + n);
    return v;
  }

 private:
  friend class GgufReader;
  friend class GgufWriter;

  static void append_string(std::vector<uint8_t>& out, std::string_view s) {
    const uint64_t n = s.size();
    const auto* len = reinterpret_cast<const uint8_t*>(&n);
    out.insert(out.end(), len, len + 8);
    out.insert(out.end(), s.begin(), s.end());
  }
  void append_encoded_array(std::vector<uint8_t>& out) const {
    const auto elem = static_cast<uint32_t>(elem_type_);
    const auto* e = reinterpret_cast<const uint8_t*>(&elem);
    const auto* c = reinterpret_cast<const uint8_t*>(&count_);
    out.insert(out.end(), e, e + 4);
    out.insert(out.end(), c, c + 8);
    out.insert(out.end(), raw_.begin(), raw_.end());
  }
  // The encoded items if this is an array of `elem`, else none.
  std::span<const uint8_t> items_of(GgufType elem) const {
    return type_ == GgufType::ARRAY && elem_type_ == elem ? std::span<const uint8_t>(raw_)
                                                          : std::span<const uint8_t>();
  }

  GgufType type_ = GgufType::U8;
  GgufType elem_type_ = GgufType::U8;
  uint64_t bits_ = 0;  // scalars, sign/zero-extended to 64 bits
  uint64_t count_ = 0;
  std::string str_;
  // An array's items, encoded as in the file: scalars little-endian,
  // strings length-prefixed, nested arrays whole (type, count, items).
  std::vector<uint8_t> raw_;
};

// A tensor as stored: a view into the file's data section.
struct GgufTensor {
  std::string name;
  uint32_t n_dims = 0;
  std::array<uint64_t, kGgufMaxDims> ne{1, 1, 1, 1};  // ne[0]: row length
  FormatId format = FormatId::F32;
  int32_t ggml_type = 0;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;

  uint64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  uint64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(nbytes)}; }
};

}  // namespace trix
