// Streaming GGUF v3 writer: metadata and tensor infos first, then each
// tensor's bytes in order (in as many chunks as the caller likes), so a
// multi-GB model never has to sit in memory at once. Files are written
// through trix::OutputFile (temporary + rename; inputs never clobbered).
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
#include <fstream>

#include "trix/core/error.h"
#include "trix/formats/blocks.h"
#include "trix/io/gguf_value.h"
#include "trix/io/output_file.h"
namespace trix {

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
  template <detail::Scalar T>
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
