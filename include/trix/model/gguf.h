// GGUF (v2/v3, little-endian) reader and writer.
//
// The reader parses a whole file up front and validates every offset, length
// and count against the buffer size before touching the bytes, so a truncated
// or hostile file raises trix::Error ("file: at byte offset N: what") and
// never reads out of bounds. Tensor data stay in place: a GgufTensor is a
// view (pointer + shape + format) into the mmapped file or the caller's
// buffer. Metadata values are copied out, so they outlive nothing.
//
// The writer streams: metadata and tensor infos first, then each tensor's
// bytes in order (in as many chunks as the caller likes), so a multi-GB model
// never has to sit in memory at once.
//
// Layout reference: ggml's docs/gguf.md. Shapes use ggml's convention:
// ne[0] is the innermost (contiguous) dimension, i.e. the row length.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
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

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trix/core/error.h"
#include "trix/io/output_file.h"
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

namespace gguf_detail {

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

}  // namespace gguf_detail

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
        const auto n = gguf_detail::load_le<uint64_t>(p_);
        return std::string(reinterpret_cast<const char*>(p_ + 8), static_cast<size_t>(n));
      } else {
        return T::decode_array(p_);
      }
    }
    iterator& operator++() {
      if constexpr (std::is_same_v<T, std::string>) {
        p_ += 8 + gguf_detail::load_le<uint64_t>(p_);
      } else {
        p_ += gguf_detail::encoded_array_bytes(p_);
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

  template <gguf_detail::Scalar T>
  static GgufValue scalar(T v) {
    GgufValue out;
    out.type_ = gguf_detail::type_of<T>::value;
    if constexpr (std::is_same_v<T, bool>) {
      out.bits_ = v ? 1 : 0;
    } else {
      std::memcpy(&out.bits_, &v, sizeof v);
      out.bits_ = gguf_detail::load_bits(reinterpret_cast<const uint8_t*>(&out.bits_), out.type_);
    }
    return out;
  }
  static GgufValue string(std::string s) {
    GgufValue out;
    out.type_ = GgufType::STRING;
    out.str_ = std::move(s);
    return out;
  }
  template <gguf_detail::Scalar T>
  static GgufValue array(std::span<const T> items) {
    GgufValue out;
    out.type_ = GgufType::ARRAY;
    out.elem_type_ = gguf_detail::type_of<T>::value;
    out.count_ = items.size();
    out.raw_.resize(items.size() * sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      for (size_t i = 0; i < items.size(); ++i) out.raw_[i] = items[i] ? 1 : 0;
    } else if (!items.empty()) {
      std::memcpy(out.raw_.data(), items.data(), out.raw_.size());
    }
    return out;
  }
  template <gguf_detail::Scalar T>
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
      if (!gguf_detail::is_integer(type_)) return std::nullopt;
      if (gguf_detail::is_signed(type_)) {
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
  template <gguf_detail::Scalar T>
  std::optional<std::vector<T>> array_as() const {
    if (type_ != GgufType::ARRAY || elem_type_ != gguf_detail::type_of<T>::value) return std::nullopt;
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
        s = gguf_detail::is_signed(type_) ? std::to_string(static_cast<int64_t>(bits_))
                                           : std::to_string(bits_);
    }
    return s;
  }

  // Element i of a scalar array, as a scalar value.
  GgufValue element(size_t i) const {
    GgufValue v;
    v.type_ = elem_type_;
    v.bits_ = gguf_detail::load_bits(raw_.data() + i * gguf_scalar_size(elem_type_), elem_type_);
    return v;
  }

  // The array encoded at p (u32 element type, u64 count, items), whose
  // bytes are trusted (validated by the reader or written by this class).
  static GgufValue decode_array(const uint8_t* p) {
    GgufValue v;
    v.type_ = GgufType::ARRAY;
    v.elem_type_ = static_cast<GgufType>(gguf_detail::load_le<uint32_t>(p));
    v.count_ = gguf_detail::load_le<uint64_t>(p + 4);
    const uint8_t* items = p + 12;
    const uint64_t n = gguf_detail::encoded_items_bytes(v.elem_type_, v.count_, items);
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

// Read-only file mapping; unmapped when the last reader sharing it goes.
class MappedFile {
 public:
  // Maps `path` read-only. Throws trix::Error naming the file on failure.
  explicit MappedFile(const std::filesystem::path& path) {
    const std::string name = path.string();
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the check
    // below then refuses it (only a regular file has a size to trust).
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error(name + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      throw Error(name + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error(name + ": not a regular file (" + file_kind(st.st_mode) +
                  "); expected a file whose size is known");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        throw Error(name + ": cannot mmap " + std::to_string(size_) + " bytes: " + std::strerror(e));
      }
      data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // "directory", "FIFO", ... for messages about a path that is not a file.
  static std::string file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
  }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Parsed GGUF file. Cheap to move; tensor views stay valid as long as the
// reader (or, for from_memory, the caller's buffer) lives.
class GgufReader {
 public:
  // Maps and parses a file. Throws trix::Error on any malformed content.
  static GgufReader open(const std::filesystem::path& path) {
    auto file = std::make_shared<MappedFile>(path);
    GgufReader r(file->bytes(), path.string());
    r.file_ = std::move(file);
    return r;
  }
  // Parses a caller-owned buffer without copying it; the buffer must outlive
  // the reader's tensor views. `name` appears in error messages.
  static GgufReader from_memory(std::span<const uint8_t> bytes, std::string name = "<memory>") {
    return GgufReader(bytes, std::move(name));
  }

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }

  // ---- metadata
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const {
    auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // The value of `key`; throws naming the key when it is absent.
  const GgufValue& get(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) throw Error(name_ + ": missing metadata key '" + std::string(key) + "'");
    return *v;
  }

  // Typed getters: absent or mistyped keys throw, naming the key, the
  // expected and the actual type. Integer getters accept any integer type
  // whose value fits; float getters accept f32 and f64.
  uint32_t get_u32(std::string_view key) const { return get_as<uint32_t>(key, "u32"); }
  int32_t get_i32(std::string_view key) const { return get_as<int32_t>(key, "i32"); }
  uint64_t get_u64(std::string_view key) const { return get_as<uint64_t>(key, "u64"); }
  int64_t get_i64(std::string_view key) const { return get_as<int64_t>(key, "i64"); }
  float get_f32(std::string_view key) const { return get_as<float>(key, "f32"); }
  double get_f64(std::string_view key) const { return get_as<double>(key, "f64"); }
  bool get_bool(std::string_view key) const { return get_as<bool>(key, "bool"); }
  std::string get_string(std::string_view key) const { return get_as<std::string>(key, "string"); }

  // Optional variants: nullopt when absent; throw when present but mistyped
  // (a wrong type is a broken file, not a missing feature).
  std::optional<uint32_t> find_u32(std::string_view key) const { return find_as<uint32_t>(key, "u32"); }
  std::optional<int32_t> find_i32(std::string_view key) const { return find_as<int32_t>(key, "i32"); }
  std::optional<uint64_t> find_u64(std::string_view key) const { return find_as<uint64_t>(key, "u64"); }
  std::optional<float> find_f32(std::string_view key) const { return find_as<float>(key, "f32"); }
  std::optional<bool> find_bool(std::string_view key) const { return find_as<bool>(key, "bool"); }
  std::optional<std::string> find_string(std::string_view key) const { return find_as<std::string>(key, "string"); }

  // get_array<T>: T a scalar type (exact element type required) or
  // std::string. Throws naming the key when absent or of another type.
  template <class T>
  std::vector<T> get_array(std::string_view key) const {
    auto v = find_array<T>(key);
    if (!v) throw Error(name_ + ": missing metadata key '" + std::string(key) + "'");
    return std::move(*v);
  }
  template <class T>
  std::optional<std::vector<T>> find_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    if constexpr (std::is_same_v<T, std::string>) {
      if (v->is_array() && v->elem_type() == GgufType::STRING) return v->strings();
      throw mistyped(key, *v, "array of string");
    } else {
      auto out = v->template array_as<T>();
      if (!out) {
        throw mistyped(key, *v,
                       std::string("array of ") + gguf_type_name(gguf_detail::type_of<T>::value));
      }
      return out;
    }
  }

  // ---- tensors
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  const GgufTensor& tensor(std::string_view name) const {
    const GgufTensor* t = find_tensor(name);
    if (!t) throw Error(name_ + ": missing tensor '" + std::string(name) + "'");
    return *t;
  }

 private:
  GgufReader(std::span<const uint8_t> bytes, std::string name)
      : bytes_(bytes), name_(std::move(name)) {
    parse();
  }

  template <class T>
  T get_as(std::string_view key, const char* want) const {
    const GgufValue& v = get(key);
    auto out = v.template as<T>();
    if (!out) throw mistyped(key, v, want);
    return *out;
  }
  template <class T>
  std::optional<T> find_as(std::string_view key, const char* want) const {
    const GgufValue* v = find(key);
    if (!v) return std::nullopt;
    auto out = v->template as<T>();
    if (!out) throw mistyped(key, *v, want);
    return out;
  }
  Error mistyped(std::string_view key, const GgufValue& v, std::string_view want) const {
    std::string have = gguf_type_name(v.type());
    if (v.is_array()) have = std::string("array of ") + gguf_type_name(v.elem_type());
    std::string msg = name_ + ": metadata key '" + std::string(key) + "': expected " +
                      std::string(want) + ", found " + have;
    if (!v.is_array() && v.type() != GgufType::STRING) msg += " " + v.to_string();
    return Error(msg);
  }

  // How many of `count` elements to reserve up front: all of them while that
  // stays under 64 MiB (untouched capacity costs address space, not memory).
  template <class T>
  static size_t reserve_count(uint64_t count) {
    return static_cast<size_t>(std::min<uint64_t>(count, (uint64_t{64} << 20) / sizeof(T)));
  }

  // ---- bounded cursor
  Error fail(uint64_t at, std::string_view what) const { return error_at(name_, at, what); }

  uint64_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
      throw fail(pos_, "truncated: need " + std::to_string(n) + " bytes for " +
                           std::string(what) + ", " + std::to_string(remaining()) +
                           " left in the file");
    }
  }
  template <class T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string read_string(std::string_view what) {
    const uint64_t at = pos_;
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining()) {
      throw fail(at, std::string(what) + ": string length " + std::to_string(len) +
                         " runs past the end of the file (" + std::to_string(remaining()) +
                         " bytes left)");
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }
  GgufType read_type(std::string_view what) {
    const uint64_t at = pos_;
    const uint32_t t = read<uint32_t>(what);
    if (t > static_cast<uint32_t>(GgufType::F64)) {
      throw fail(at, std::string(what) + ": unknown value type " + std::to_string(t) +
                         " (expected 0..12)");
    }
    return static_cast<GgufType>(t);
  }

  // Nested arrays recurse; real files nest at most twice, so a small bound
  // protects the stack against crafted input.
  static constexpr int kMaxArrayDepth = 8;

  // "array 'key'" or "array 'key[3][0]'" for the item path `path`. Built by
  // appending: operator+ chains here trip GCC 12's -Wrestrict at -O3.
  static std::string array_label(const std::string& key, std::span<const uint64_t> path) {
    std::string s = "array '";
    s += key;
    for (uint64_t i : path) {
      s += '[';
      s += std::to_string(i);
      s += ']';
    }
    s += '\'';
    return s;
  }

  // Validates one array's element type, length and items at pos_ and moves
  // past them, allocating nothing (the caller copies the bytes once).
  // `path` holds the item indices from the key down to this array.
  void skip_array(const std::string& key, std::vector<uint64_t>& path, GgufType* elem_out,
                  uint64_t* count_out) {
    if (path.size() >= static_cast<size_t>(kMaxArrayDepth)) {
      throw fail(pos_, "value of '" + key + "': arrays nested deeper than " +
                           std::to_string(kMaxArrayDepth));
    }
    // Labels are built only on failure: this runs once per nested item.
    if (remaining() < 12) {
      throw fail(pos_, "truncated: need 12 bytes for the element type and length of " +
                           array_label(key, path) + ", " + std::to_string(remaining()) +
                           " left in the file");
    }
    const uint32_t raw_elem = gguf_detail::load_le<uint32_t>(bytes_.data() + pos_);
    if (raw_elem > static_cast<uint32_t>(GgufType::F64)) {
      throw fail(pos_, array_label(key, path) + " element type: unknown value type " +
                           std::to_string(raw_elem) + " (expected 0..12)");
    }
    const auto elem = static_cast<GgufType>(raw_elem);
    const uint64_t at = pos_ + 4;
    const uint64_t count = gguf_detail::load_le<uint64_t>(bytes_.data() + at);
    pos_ += 12;
    // Every element takes at least this many bytes, so a length that cannot
    // fit in the rest of the file is rejected before any allocation.
    uint64_t min_elem = gguf_scalar_size(elem);
    if (elem == GgufType::STRING) min_elem = 8;
    if (elem == GgufType::ARRAY) min_elem = 12;
    if (count > remaining() / min_elem) {
      throw fail(at, array_label(key, path) + ": length " + std::to_string(count) + " of " +
                         gguf_type_name(elem) + " needs at least " +
                         (count > std::numeric_limits<uint64_t>::max() / min_elem
                              ? std::string("more than 2^64")
                              : std::to_string(count * min_elem)) +
                         " bytes, only " + std::to_string(remaining()) + " left");
    }
    if (elem == GgufType::STRING) {
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t item_at = pos_;
        if (remaining() < 8) {
          throw fail(item_at, "truncated: need 8 bytes for " + array_label(key, path) + " item " +
                                  std::to_string(i) + " length, " + std::to_string(remaining()) +
                                  " left in the file");
        }
        const uint64_t len = gguf_detail::load_le<uint64_t>(bytes_.data() + pos_);
        pos_ += 8;
        if (len > remaining()) {
          throw fail(item_at, array_label(key, path) + " item " + std::to_string(i) +
                                  ": string length " + std::to_string(len) +
                                  " runs past the end of the file (" + std::to_string(remaining()) +
                                  " bytes left)");
        }
        pos_ += len;
      }
    } else if (elem == GgufType::ARRAY) {
      for (uint64_t i = 0; i < count; ++i) {
        path.push_back(i);
        GgufType e;
        uint64_t c;
        skip_array(key, path, &e, &c);
        path.pop_back();
      }
    } else {
      pos_ += count * min_elem;
    }
    *elem_out = elem;
    *count_out = count;
  }

  GgufValue read_value(GgufType type, const std::string& key) {
    GgufValue v;
    v.type_ = type;
    if (type == GgufType::STRING) {
      v.str_ = read_string("value of '" + key + "'");
    } else if (type == GgufType::ARRAY) {
      const uint64_t start = pos_;
      std::vector<uint64_t> path;
      skip_array(key, path, &v.elem_type_, &v.count_);
      const uint8_t* items = bytes_.data() + start + 12;
      v.raw_.assign(items, bytes_.data() + pos_);
    } else {
      const uint64_t n = gguf_scalar_size(type);
      need(n, "value of '" + key + "'");
      v.bits_ = gguf_detail::load_bits(bytes_.data() + pos_, type);
      pos_ += n;
    }
    return v;
  }

  // Parses, turning an allocation failure (a count the file could only
  // justify on paper) into the usual error at the offset reached.
  void parse() {
    try {
      parse_unchecked();
    } catch (const std::bad_alloc&) {
      throw fail(pos_, "out of memory while parsing (the file's counts and lengths ask for more than is available)");
    } catch (const std::length_error&) {
      throw fail(pos_, "a count or length too large to hold in memory");
    }
  }

  void parse_unchecked() {
    pos_ = 0;
    const uint32_t magic = read<uint32_t>("the magic");
    if (magic != kGgufMagic) {
      std::string m;
      for (int i = 0; i < 4; ++i) {
        const auto c = static_cast<unsigned char>(bytes_[static_cast<size_t>(i)]);
        if (c >= 32 && c <= 126 && c != '\\' && c != '"') {
          m += static_cast<char>(c);
        } else {
          static constexpr char kHex[] = "0123456789abcdef";
          m += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
        }
      }
      throw fail(0, "not a GGUF file: magic is \"" + m + "\", expected \"GGUF\"");
    }
    version_ = read<uint32_t>("the version");
    if (version_ != 2 && version_ != 3) {
      std::string msg = "unsupported GGUF version " + std::to_string(version_) +
                        " (this reader handles little-endian v2 and v3)";
      if (version_ == 1) msg += "; v1 used 32-bit counts, re-convert the file";
      if ((version_ & 0xffffu) == 0 && version_ != 0) msg += "; the file looks big-endian";
      throw fail(4, msg);
    }
    const uint64_t n_tensors_at = pos_;
    const uint64_t n_tensors = read<uint64_t>("the tensor count");
    const uint64_t n_kv_at = pos_;
    const uint64_t n_kv = read<uint64_t>("the metadata count");
    // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a
    // tensor info at least 8 + 4 + 4 + 8.
    if (n_kv > remaining() / 13) {
      throw fail(n_kv_at, "metadata count " + std::to_string(n_kv) + " cannot fit in the " +
                              std::to_string(remaining()) + " bytes left");
    }
    if (n_tensors > remaining() / 24) {
      throw fail(n_tensors_at, "tensor count " + std::to_string(n_tensors) +
                                   " cannot fit in the " + std::to_string(remaining()) +
                                   " bytes left");
    }

    // Reserved up to a fixed budget only: a count is bounded by the file's
    // size alone, which a sparse file makes huge (reserving it all was a
    // std::bad_alloc); past the budget the vector grows with what is parsed.
    kv_.reserve(reserve_count<std::pair<std::string, GgufValue>>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
      const uint64_t at = pos_;
      std::string key = read_string("metadata key " + std::to_string(i));
      const GgufType type = read_type("type of metadata key '" + key + "'");
      GgufValue v = read_value(type, key);
      if (!kv_index_.emplace(key, kv_.size()).second) {
        throw fail(at, "duplicate metadata key '" + key + "'");
      }
      kv_.emplace_back(std::move(key), std::move(v));
    }

    alignment_ = kGgufDefaultAlignment;
    if (const GgufValue* a = find("general.alignment")) {
      auto al = a->as<uint32_t>();
      if (!al || a->type() != GgufType::U32 || *al == 0 || (*al & (*al - 1)) != 0) {
        throw Error(name_ + ": metadata key 'general.alignment': expected a u32 power of two, found " +
                    gguf_type_name(a->type()) + " " + a->to_string());
      }
      alignment_ = *al;
    }

    struct Pending {
      uint64_t info_at;
    };
    std::vector<Pending> pending;
    tensors_.reserve(reserve_count<GgufTensor>(n_tensors));
    pending.reserve(reserve_count<Pending>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensor t;
      const uint64_t at = pos_;
      t.name = read_string("name of tensor " + std::to_string(i));
      const std::string what = "tensor '" + t.name + "'";
      const uint64_t dims_at = pos_;
      t.n_dims = read<uint32_t>(what + " n_dims");
      if (t.n_dims == 0 || t.n_dims > kGgufMaxDims) {
        throw fail(dims_at, what + ": n_dims " + std::to_string(t.n_dims) + " (expected 1.." +
                                std::to_string(kGgufMaxDims) + ")");
      }
      uint64_t n_elements = 1;
      for (uint32_t d = 0; d < t.n_dims; ++d) {
        const uint64_t ne_at = pos_;
        t.ne[d] = read<uint64_t>(what + " ne[" + std::to_string(d) + "]");
        // ggml keeps shapes in int64_t: the element count must fit there.
        if (t.ne[d] != 0 &&
            n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / t.ne[d]) {
          throw fail(ne_at, what + ": element count overflows int64 at ne[" +
                                std::to_string(d) + "] = " + std::to_string(t.ne[d]));
        }
        n_elements *= t.ne[d];
      }
      const uint64_t type_at = pos_;
      const uint32_t raw_type = read<uint32_t>(what + " type");
      const FormatInfo* fmt =
          raw_type <= static_cast<uint32_t>(std::numeric_limits<int32_t>::max())
              ? find_format_by_ggml_type(static_cast<int32_t>(raw_type))
              : nullptr;
      if (!fmt) {
        throw fail(type_at, what + ": unknown or unsupported ggml type id " +
                                std::to_string(raw_type));
      }
      t.ggml_type = static_cast<int32_t>(raw_type);
      t.format = fmt->id;
      if (t.ne[0] % fmt->block_elements != 0) {
        throw fail(dims_at, what + ": row length ne[0] = " + std::to_string(t.ne[0]) +
                                " is not a multiple of the " + fmt->name + " block size " +
                                std::to_string(fmt->block_elements));
      }
      t.nbytes = n_elements == 0 ? 0 : format_nbytes(*fmt, n_elements);
      const uint64_t off_at = pos_;
      t.offset = read<uint64_t>(what + " offset");
      if (t.offset % alignment_ != 0) {
        throw fail(off_at, what + ": data offset " + std::to_string(t.offset) +
                               " is not a multiple of the alignment " + std::to_string(alignment_));
      }
      if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
        throw fail(at, "duplicate tensor name '" + t.name + "'");
      }
      tensors_.push_back(std::move(t));
      pending.push_back({off_at});
    }

    const uint64_t end_of_infos = pos_;
    const uint64_t pad = (alignment_ - end_of_infos % alignment_) % alignment_;
    data_offset_ = end_of_infos + pad;
    if (n_tensors == 0) return;  // no data section needed
    if (data_offset_ > bytes_.size()) {
      throw fail(end_of_infos, "truncated: the data section should start at byte " +
                                   std::to_string(data_offset_) + " but the file has " +
                                   std::to_string(bytes_.size()) + " bytes");
    }
    const uint64_t data_size = bytes_.size() - data_offset_;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      GgufTensor& t = tensors_[i];
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        throw fail(pending[i].info_at,
                   "tensor '" + t.name + "': data [" + std::to_string(t.offset) + ", +" +
                       std::to_string(t.nbytes) + ") runs past the end of the data section (" +
                       std::to_string(data_size) + " bytes from byte " +
                       std::to_string(data_offset_) + ")");
      }
      t.data = bytes_.data() + data_offset_ + t.offset;
    }
    check_no_overlap(pending);
  }

  // Two tensors whose data ranges share a byte would alias (llama.cpp
  // rejects such files too). Empty tensors occupy nothing.
  template <class PendingList>
  void check_no_overlap(const PendingList& pending) const {
    std::vector<size_t> order;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (tensors_[i].nbytes != 0) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return tensors_[a].offset != tensors_[b].offset ? tensors_[a].offset < tensors_[b].offset : a < b;
    });
    const auto range = [](const GgufTensor& t) {
      return "[" + std::to_string(t.offset) + ", " + std::to_string(t.offset + t.nbytes) + ")";
    };
    size_t reach = 0;  // the tensor reaching furthest so far
    for (size_t k = 0; k < order.size(); ++k) {
      const GgufTensor& t = tensors_[order[k]];
      if (k > 0) {
        const GgufTensor& r = tensors_[order[reach]];
        if (t.offset < r.offset + r.nbytes) {
          const size_t later = std::max(order[k], order[reach]);
          const size_t earlier = std::min(order[k], order[reach]);
          throw fail(pending[later].info_at,
                     "tensor '" + tensors_[later].name + "': data " + range(tensors_[later]) +
                         " overlaps tensor '" + tensors_[earlier].name + "': data " +
                         range(tensors_[earlier]) + " (offsets from the data section)");
        }
        if (t.offset + t.nbytes <= r.offset + r.nbytes) continue;
      }
      reach = k;
    }
  }

  std::span<const uint8_t> bytes_;
  std::string name_;
  std::shared_ptr<MappedFile> file_;
  uint64_t pos_ = 0;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Streaming GGUF v3 writer.
//
// Usage: set metadata and add tensor infos (any order), then write each
// tensor's bytes in the order the tensors were added, in one or more
// write_tensor_data() calls, then finish(). The header goes out on the first
// data write (or in finish() when there are no tensors), so metadata and
// tensor infos cannot change after that. Errors (wrong order, too many bytes,
// I/O failure) throw trix::Error naming the output and the tensor.
class GgufWriter {
 public:
  // Writes to `path` through trix::OutputFile: refused up front if `path` is
  // one of `inputs` (or a link to one) or an existing non-regular file; the
  // bytes go to a temporary that finish() renames over `path`, so a writer
  // dropped before finish() (or an error) leaves `path` untouched.
  explicit GgufWriter(const std::filesystem::path& path, uint32_t alignment = kGgufDefaultAlignment)
      : GgufWriter(path, std::vector<std::filesystem::path>{}, alignment) {}
  GgufWriter(const std::filesystem::path& path, const std::vector<std::filesystem::path>& inputs,
             uint32_t alignment = kGgufDefaultAlignment)
      : name_(path.string()), owned_(std::make_unique<OutputFile>(path, inputs)), out_(&owned_->stream()),
        alignment_(alignment) {
    init_alignment();
  }
  // Writes to a caller-owned stream (e.g. std::ostringstream in tests).
  explicit GgufWriter(std::ostream& out, std::string name = "<stream>",
                      uint32_t alignment = kGgufDefaultAlignment)
      : name_(std::move(name)), out_(&out), alignment_(alignment) {
    init_alignment();
  }

  // Sets (or replaces) a metadata value. Keys keep their first-set order.
  void set(std::string key, GgufValue v) {
    check_open("set metadata '" + key + "'");
    if (key == "general.alignment") {
      auto a = v.as<uint32_t>();
      if (v.type() != GgufType::U32 || !a || *a == 0 || (*a & (*a - 1)) != 0) {
        throw Error(name_ + ": general.alignment must be a u32 power of two");
      }
      alignment_ = *a;
    }
    for (auto& [k, old] : kv_) {
      if (k == key) {
        old = std::move(v);
        return;
      }
    }
    kv_.emplace_back(std::move(key), std::move(v));
  }
  template <gguf_detail::Scalar T>
  void set_scalar(std::string key, T v) { set(std::move(key), GgufValue::scalar(v)); }
  void set_u32(std::string key, uint32_t v) { set_scalar(std::move(key), v); }
  void set_i32(std::string key, int32_t v) { set_scalar(std::move(key), v); }
  void set_f32(std::string key, float v) { set_scalar(std::move(key), v); }
  void set_bool(std::string key, bool v) { set_scalar(std::move(key), v); }
  void set_string(std::string key, std::string v) { set(std::move(key), GgufValue::string(std::move(v))); }

  // Declares a tensor; ne[0] is the row length. Returns its index.
  size_t add_tensor(std::string name, FormatId format, std::span<const uint64_t> ne) {
    check_open("add tensor '" + name + "'");
    const FormatInfo& fmt = format_info(format);
    if (fmt.ggml_type < 0) {
      throw Error(name_ + ": tensor '" + name + "': format " + fmt.name + " has no GGUF type id");
    }
    if (ne.empty() || ne.size() > kGgufMaxDims) {
      throw Error(name_ + ": tensor '" + name + "': needs 1.." + std::to_string(kGgufMaxDims) + " dims");
    }
    for (const auto& t : tensors_) {
      if (t.name == name) throw Error(name_ + ": duplicate tensor name '" + name + "'");
    }
    GgufTensor t;
    t.name = std::move(name);
    t.n_dims = static_cast<uint32_t>(ne.size());
    uint64_t n = 1;
    for (size_t d = 0; d < ne.size(); ++d) {
      t.ne[d] = ne[d];
      n *= ne[d];
    }
    if (t.ne[0] % fmt.block_elements != 0) {
      throw Error(name_ + ": tensor '" + t.name + "': row length " + std::to_string(t.ne[0]) +
                  " is not a multiple of the " + fmt.name + " block size " +
                  std::to_string(fmt.block_elements));
    }
    t.format = format;
    t.ggml_type = fmt.ggml_type;
    t.nbytes = n == 0 ? 0 : format_nbytes(fmt, n);
    tensors_.push_back(std::move(t));
    return tensors_.size() - 1;
  }
  size_t add_tensor(std::string name, FormatId format, std::initializer_list<uint64_t> ne) {
    return add_tensor(std::move(name), format, std::span<const uint64_t>(ne.begin(), ne.size()));
  }

  // Appends bytes of the current tensor (the first whose bytes are not all
  // written). A chunk may not cross into the next tensor.
  void write_tensor_data(std::span<const uint8_t> chunk) {
    if (!header_written_) write_header();
    while (current_ < tensors_.size() && tensors_[current_].nbytes == written_in_current_) {
      end_tensor();
    }
    if (current_ >= tensors_.size()) {
      if (chunk.empty()) return;
      throw Error(name_ + ": " + std::to_string(chunk.size()) + " bytes of tensor data past the last tensor");
    }
    const GgufTensor& t = tensors_[current_];
    if (chunk.size() > t.nbytes - written_in_current_) {
      throw Error(name_ + ": tensor '" + t.name + "': chunk of " + std::to_string(chunk.size()) +
                  " bytes overruns its " + std::to_string(t.nbytes) + " bytes (" +
                  std::to_string(written_in_current_) + " already written)");
    }
    put(chunk.data(), chunk.size());
    written_in_current_ += chunk.size();
    if (written_in_current_ == t.nbytes) end_tensor();
  }
  template <class T>
  void write_tensor_data(std::span<const T> items) {
    static_assert(std::is_trivially_copyable_v<T>);
    write_tensor_data(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(items.data()),
                                               items.size_bytes()));
  }
  // The tensor whose bytes come next, or nullptr when all are written.
  const GgufTensor* next_tensor() const {
    return current_ < tensors_.size() ? &tensors_[current_] : nullptr;
  }

  // Writes the header if needed, checks every tensor is complete, flushes.
  void finish() {
    if (!header_written_) write_header();
    while (current_ < tensors_.size() && tensors_[current_].nbytes == written_in_current_) {
      end_tensor();
    }
    if (current_ < tensors_.size()) {
      throw Error(name_ + ": finish(): tensor '" + tensors_[current_].name + "' has " +
                  std::to_string(written_in_current_) + " of " +
                  std::to_string(tensors_[current_].nbytes) + " bytes written");
    }
    if (owned_) {
      owned_->commit();
      return;
    }
    out_->flush();
    if (!*out_) throw Error(name_ + ": write failed");
  }

 private:
  void init_alignment() {
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
      throw Error(name_ + ": alignment must be a power of two");
    }
    if (alignment_ != kGgufDefaultAlignment) set_u32("general.alignment", alignment_);
  }
  void check_open(const std::string& what) const {
    if (header_written_) throw Error(name_ + ": cannot " + what + " after tensor data started");
  }

  void put(const void* p, size_t n) {
    out_->write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    if (!*out_) {
      std::string m = name_ + ": write failed at byte " + std::to_string(pos_);
      if (owned_ && !owned_->write_error_text().empty()) {
        m += ": ";
        m += owned_->write_error_text();
      }
      throw Error(m);
    }
    pos_ += n;
  }
  template <class T>
  void put_pod(T v) { put(&v, sizeof v); }
  void put_string(const std::string& s) {
    put_pod<uint64_t>(s.size());
    put(s.data(), s.size());
  }
  void pad_to_alignment() {
    static constexpr uint8_t zeros[64] = {};
    uint64_t pad = (alignment_ - pos_ % alignment_) % alignment_;
    while (pad > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof zeros));
      put(zeros, n);
      pad -= n;
    }
  }
  void put_value(const GgufValue& v) {
    switch (v.type()) {
      case GgufType::STRING:
        put_string(v.str_);
        break;
      case GgufType::ARRAY:
        put_pod<uint32_t>(static_cast<uint32_t>(v.elem_type_));
        put_pod<uint64_t>(v.count_);
        // Every kind of item is kept encoded as in the file (strings
        // length-prefixed, nested arrays whole), so the bytes go out as they are.
        put(v.raw_.data(), v.raw_.size());
        break;
      default:
        put(&v.bits_, static_cast<size_t>(gguf_scalar_size(v.type())));
    }
  }

  void write_header() {
    // Offsets follow add order, each aligned, as ggml lays them out.
    uint64_t off = 0;
    for (auto& t : tensors_) {
      t.offset = off;
      off += t.nbytes;
      off += (alignment_ - off % alignment_) % alignment_;
    }
    put_pod<uint32_t>(kGgufMagic);
    put_pod<uint32_t>(3);
    put_pod<uint64_t>(tensors_.size());
    put_pod<uint64_t>(kv_.size());
    for (const auto& [k, v] : kv_) {
      put_string(k);
      put_pod<uint32_t>(static_cast<uint32_t>(v.type()));
      put_value(v);
    }
    for (const auto& t : tensors_) {
      put_string(t.name);
      put_pod<uint32_t>(t.n_dims);
      for (uint32_t d = 0; d < t.n_dims; ++d) put_pod<uint64_t>(t.ne[d]);
      put_pod<uint32_t>(static_cast<uint32_t>(t.ggml_type));
      put_pod<uint64_t>(t.offset);
    }
    if (!tensors_.empty()) pad_to_alignment();
    header_written_ = true;
  }
  void end_tensor() {
    ++current_;
    written_in_current_ = 0;
    // Pad after each tensor except the last, so the file ends at its data.
    if (current_ < tensors_.size()) pad_to_alignment();
  }

  std::string name_;
  std::unique_ptr<OutputFile> owned_;  // null when writing to a caller's stream
  std::ostream* out_;
  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensor> tensors_;
  bool header_written_ = false;
  size_t current_ = 0;
  uint64_t written_in_current_ = 0;
  uint64_t pos_ = 0;
};

}  // namespace trix
