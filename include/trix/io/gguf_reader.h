// GGUF (v2/v3, little-endian) reader.
//
// The reader parses a whole file up front and validates every offset, length
// and count against the buffer size before touching the bytes, so a truncated
// or hostile file raises trix::Error ("file: at byte offset N: what") and
// never reads out of bounds. Tensor data stay in place: a GgufTensor is a
// view (pointer + shape + format) into the mmapped file or the caller's
// buffer. Metadata values are copied out, so they outlive nothing.
//
// Shapes use ggml's convention: ne[0] is the innermost (contiguous)
// dimension, i.e. the row length.
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
#include "trix/io/gguf_value.h"
#include "trix/io/mapped_file.h"
namespace trix {

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
  // The mapping's MappedFile::release_pages for bytes of an opened file
  // (nothing for from_memory: the caller owns those bytes).
  void release_pages(const void* p, size_t n) const {
    if (file_) file_->release_pages(p, n);
  }
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
                       std::string("array of ") + gguf_type_name(detail::type_of<T>::value));
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
    const uint32_t raw_elem = detail::load_le<uint32_t>(bytes_.data() + pos_);
    if (raw_elem > static_cast<uint32_t>(GgufType::F64)) {
      throw fail(pos_, array_label(key, path) + " element type: unknown value type " +
                           std::to_string(raw_elem) + " (expected 0..12)");
    }
    const auto elem = static_cast<GgufType>(raw_elem);
    const uint64_t at = pos_ + 4;
    const uint64_t count = detail::load_le<uint64_t>(bytes_.data() + at);
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
        const uint64_t len = detail::load_le<uint64_t>(bytes_.data() + pos_);
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
      v.bits_ = detail::load_bits(bytes_.data() + pos_, type);
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
                                std::to_string(fmt->block_elements) +
                                (fmt->id == FormatId::I2_S
                                     ? " (bitnet.cpp's ARM I2_S layout has 64-weight groups; TriX reads "
                                       "only the published 128-weight-group layout)"
                                     : ""));
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
                       std::to_string(data_offset_) + ")" +
                       i2_s_layout_hint(t, t.offset > data_size ? 0 : t.offset + t.nbytes - data_size));
      }
      t.data = bytes_.data() + data_offset_ + t.offset;
    }
    check_no_overlap(pending);
  }

  // An I2_S tensor whose data stops exactly its 32-byte scale trailer short
  // (the next tensor or the end of the data comes there) was written by a
  // converter with another I2_S layout: say so.
  static std::string i2_s_layout_hint(const GgufTensor& t, uint64_t short_by) {
    if (t.format != FormatId::I2_S || short_by != format_info(FormatId::I2_S).trailer_bytes) return {};
    return " (an I2_S tensor without its 32-byte scale trailer: another converter's I2_S layout; "
           "TriX reads only the published one, 128-weight groups then the trailer)";
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
                         range(tensors_[earlier]) + " (offsets from the data section)" +
                         i2_s_layout_hint(r, r.offset + r.nbytes - t.offset));
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

}  // namespace trix
