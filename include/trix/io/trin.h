// TRIN: the Trinity-1.58bit packed model file (seeds/003).
//
//   "TRIN"                                   4-byte magic
//   per Linear layer, in model order:
//     uint32 LE length                       = ceil(rows * cols / 4)
//     length bytes                           4 weights per byte, MSB first:
//                                            w0 << 6 | w1 << 4 | w2 << 2 | w3
//   end of file                              nothing may follow
// Weights are row-major; code c in {0, 1, 2} means c - 1 in {-1, 0, +1}
// (the seed's Python packer is the truth; its C++ engine's 2 -> -1 is a bug).
// The file carries no names, shapes or scales: the caller supplies them
// (from a model spec) and the reader checks every length against them.
// When rows * cols is not a multiple of 4, the last byte's unused low fields
// are padding: written as 0, ignored on read.
//
// Errors: the reader throws trix::Error naming the file, the tensor (name and
// index), the byte offset and what was expected, for a wrong magic, a
// truncated length prefix or payload, a length that disagrees with the
// expected shape, a weight code 3, and trailing bytes after the last tensor.
// It never reads outside the file, reads one tensor at a time (TrinReader),
// and refuses inputs that are not regular files (FIFOs, /dev/zero).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <istream>
#include <limits>
#include <memory>
#include <streambuf>
#include <system_error>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/formats/blocks.h"
#include "trix/formats/common.h"
#include "trix/io/output_file.h"

namespace trix {

// What the caller expects the next tensor of the file to be. value = scale *
// (c - 1); the scale is carried through untouched (the file has none).
struct TrinTensorSpec {
  std::string name;
  uint64_t rows = 0;
  uint64_t cols = 0;
  float scale = 1.0f;
};

// One tensor as read: the spec, where its payload starts in the file, and
// the packed bytes (ceil(rows * cols / 4) of them, as in the file).
struct TrinTensor {
  TrinTensorSpec spec;
  uint64_t file_offset = 0;  // offset of the first payload byte
  std::vector<uint8_t> packed;

  uint64_t size() const { return spec.rows * spec.cols; }
  // Code of weight i (row-major): 0, 1 or 2.
  uint32_t code(uint64_t i) const { return trix::detail::get_code<BlockTRIN>(packed.data(), i); }
  // Ternary value of weight i: -1, 0 or +1.
  int8_t value(uint64_t i) const { return static_cast<int8_t>(static_cast<int32_t>(code(i)) - 1); }
  // All size() values, row-major.
  std::vector<int8_t> values() const {
    std::vector<int8_t> out(size());
    for (uint64_t i = 0; i < out.size(); ++i) out[i] = value(i);
    return out;
  }
};

// A tensor to write: its shape and size() ternary values (-1, 0, +1) row-major.
struct TrinTensorView {
  std::string_view name;
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::span<const int8_t> values;
};

inline constexpr char kTrinMagic[4] = {'T', 'R', 'I', 'N'};

namespace detail {

// Packed payload bytes of a rows x cols tensor; false if rows * cols / 4
// would not fit the format's uint32 length.
inline bool trin_payload_bytes(uint64_t rows, uint64_t cols, uint64_t* out) {
  if (cols != 0 && rows > std::numeric_limits<uint64_t>::max() / cols) return false;
  const uint64_t n = rows * cols;
  constexpr uint64_t kPerByte = BlockTRIN::kElements / BlockTRIN::kBytes;
  *out = n / kPerByte + (n % kPerByte != 0 ? 1 : 0);
  return *out <= std::numeric_limits<uint32_t>::max();
}

inline std::string trin_tensor_label(const std::string& name, size_t index, size_t count) {
  return "tensor '" + name + "' (" + std::to_string(index + 1) + " of " + std::to_string(count) + ")";
}

}  // namespace detail

namespace detail {

// A read-only, seekable stream buffer over caller-owned bytes (no copy).
class TrinSpanBuf : public std::streambuf {
 public:
  explicit TrinSpanBuf(std::span<const uint8_t> bytes) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(bytes.data()));
    setg(p, p, p + bytes.size());
  }

 protected:
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
    const off_type base = dir == std::ios_base::beg ? 0 : dir == std::ios_base::cur ? gptr() - eback()
                                                                                    : egptr() - eback();
    return seekpos(pos_type(base + off), std::ios_base::in);
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode) override {
    const off_type at = off_type(pos);
    if (at < 0 || at > egptr() - eback()) return pos_type(off_type(-1));
    setg(eback(), eback() + at, egptr());
    return pos;
  }
};

}  // namespace detail

// Reads a TRIN file one tensor at a time. Construction checks the magic,
// every length prefix against the expected shapes, and the total size
// against the file's (reading 4 bytes per tensor, seeking past payloads), so
// a wrong or truncated file fails before any payload is read; read(i) then
// reads tensor i alone and checks its codes. Memory is one tensor's bytes,
// never the file's. Errors are trix::Error naming the file, the tensor and
// the byte offset (see the file comment).
class TrinReader {
 public:
  // Opens `path`, which must be a regular file: a FIFO, a device such as
  // /dev/zero or a directory has no size to check lengths against.
  static TrinReader open(const std::filesystem::path& path, std::span<const TrinTensorSpec> expected) {
    const std::string name = path.string();
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) throw Error(name + ": cannot open TRIN file");
    if (!std::filesystem::is_regular_file(status)) {
      const char* kind = std::filesystem::is_directory(status)  ? "a directory"
                         : std::filesystem::is_fifo(status)     ? "a FIFO"
                         : std::filesystem::is_character_file(status) ? "a character device"
                         : std::filesystem::is_block_file(status)     ? "a block device"
                         : std::filesystem::is_socket(status)         ? "a socket"
                                                                      : "not a regular file";
      throw Error(name + ": not a regular file (" + kind + "); a TRIN file must be one, so its size can be checked");
    }
    auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*file) throw Error(name + ": cannot open TRIN file");
    std::istream& in = *file;
    return TrinReader(std::move(file), nullptr, in, name, expected);
  }
  // Reads caller-owned bytes (no copy); they must outlive the reader.
  static TrinReader from_memory(std::span<const uint8_t> bytes, std::string_view name,
                                std::span<const TrinTensorSpec> expected) {
    auto buf = std::make_unique<detail::TrinSpanBuf>(bytes);
    auto in = std::make_unique<std::istream>(buf.get());
    std::istream& ref = *in;
    return TrinReader(std::move(in), std::move(buf), ref, std::string(name), expected);
  }
  // Reads a caller-owned seekable stream, which must outlive the reader.
  TrinReader(std::istream& in, std::string name, std::span<const TrinTensorSpec> expected)
      : TrinReader(nullptr, nullptr, in, std::move(name), expected) {}

  const std::string& name() const { return name_; }
  size_t size() const { return specs_.size(); }
  const TrinTensorSpec& spec(size_t i) const { return specs_.at(i); }
  // Offset of tensor i's first payload byte.
  uint64_t payload_offset(size_t i) const { return offsets_.at(i); }
  uint64_t file_size() const { return file_size_; }

  // Reads tensor i (any order, any number of times) and checks its codes.
  TrinTensor read(size_t i) {
    const TrinTensorSpec& spec = specs_.at(i);
    const std::string label = detail::trin_tensor_label(spec.name, i, specs_.size());
    TrinTensor tensor;
    tensor.spec = spec;
    tensor.file_offset = offsets_[i];
    tensor.packed.resize(static_cast<size_t>(lengths_[i]));
    read_at(offsets_[i], tensor.packed.data(), tensor.packed.size(), label + ": payload");
    const uint64_t n = tensor.size();
    for (uint64_t k = 0; k < n; ++k) {
      if (tensor.code(k) == 3) {
        throw error_at(name_, offsets_[i] + trix::detail::code_byte<BlockTRIN>(k),
                       label + ": weight " + std::to_string(k) + " has code 3; expected 0, 1 or 2 (-1, 0, +1)");
      }
    }
    return tensor;
  }
  // Every tensor, in file order (holds them all: for small files and tests).
  std::vector<TrinTensor> read_all() {
    std::vector<TrinTensor> out;
    out.reserve(specs_.size());
    for (size_t i = 0; i < specs_.size(); ++i) out.push_back(read(i));
    return out;
  }

 private:
  TrinReader(std::unique_ptr<std::istream> owned, std::unique_ptr<std::streambuf> owned_buf, std::istream& in,
             std::string name, std::span<const TrinTensorSpec> expected)
      : owned_buf_(std::move(owned_buf)), owned_(std::move(owned)), in_(&in), name_(std::move(name)),
        specs_(expected.begin(), expected.end()) {
    index();
  }

  void read_at(uint64_t pos, uint8_t* out, size_t n, std::string_view what) {
    in_->clear();
    in_->seekg(static_cast<std::streamoff>(pos));
    in_->read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
    if (!*in_ || static_cast<size_t>(in_->gcount()) != n) {
      throw error_at(name_, pos, std::string(what) + ": read error (" + std::to_string(n) +
                                     " bytes expected; did the file change?)");
    }
  }

  void index() {
    in_->seekg(0, std::ios::end);
    const std::streamoff end = in_->tellg();
    if (!*in_ || end < 0) throw Error(name_ + ": cannot seek in the TRIN stream");
    file_size_ = static_cast<uint64_t>(end);
    uint8_t magic[sizeof kTrinMagic] = {};
    const size_t have = static_cast<size_t>(std::min<uint64_t>(file_size_, sizeof magic));
    read_at(0, magic, have, "magic");
    if (have < sizeof magic || std::memcmp(magic, kTrinMagic, sizeof magic) != 0) {
      std::string found;
      for (size_t i = 0; i < have; ++i) {
        const uint8_t c = magic[i];
        if (c >= 0x20 && c < 0x7f) {
          found += static_cast<char>(c);
        } else {
          constexpr char kHex[] = "0123456789abcdef";
          found += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
        }
      }
      throw error_at(name_, 0, "expected magic \"TRIN\", found \"" + found + "\" (" +
                                   std::to_string(file_size_) + "-byte file)");
    }
    offsets_.reserve(specs_.size());
    lengths_.reserve(specs_.size());
    uint64_t pos = sizeof kTrinMagic;
    for (size_t t = 0; t < specs_.size(); ++t) {
      const TrinTensorSpec& spec = specs_[t];
      const std::string label = detail::trin_tensor_label(spec.name, t, specs_.size());
      uint64_t want = 0;
      if (!detail::trin_payload_bytes(spec.rows, spec.cols, &want)) {
        throw error_at(name_, pos, label + ": shape " + std::to_string(spec.rows) + " x " +
                                       std::to_string(spec.cols) + " is too large for a TRIN tensor");
      }
      const uint64_t left = file_size_ - pos;
      if (left < 4) {
        throw error_at(name_, pos, label + ": truncated length prefix: need 4 bytes, " +
                                       std::to_string(left) + " left");
      }
      uint8_t p[4];
      read_at(pos, p, 4, label + ": length prefix");
      const uint64_t length = uint64_t{p[0]} | uint64_t{p[1]} << 8 | uint64_t{p[2]} << 16 | uint64_t{p[3]} << 24;
      if (length != want) {
        throw error_at(name_, pos, label + ": length prefix says " + std::to_string(length) +
                                       " bytes, expected " + std::to_string(want) + " for " +
                                       std::to_string(spec.rows) + " x " + std::to_string(spec.cols) +
                                       " weights");
      }
      pos += 4;
      if (file_size_ - pos < length) {
        throw error_at(name_, pos, label + ": truncated payload: need " + std::to_string(length) +
                                       " bytes, " + std::to_string(file_size_ - pos) + " left");
      }
      offsets_.push_back(pos);
      lengths_.push_back(length);
      pos += length;
    }
    if (pos != file_size_) {
      const std::string after = specs_.empty() ? std::string("the magic (no tensors expected)")
                                               : "the last tensor '" + specs_.back().name + "'";
      throw error_at(name_, pos, std::to_string(file_size_ - pos) + " trailing bytes after " + after +
                                     "; expected end of file");
    }
  }

  std::unique_ptr<std::streambuf> owned_buf_;
  std::unique_ptr<std::istream> owned_;
  std::istream* in_;
  std::string name_;
  std::vector<TrinTensorSpec> specs_;
  std::vector<uint64_t> offsets_;
  std::vector<uint64_t> lengths_;
  uint64_t file_size_ = 0;
};

// Parses a whole TRIN file held in memory. `file` names it in error messages.
inline std::vector<TrinTensor> parse_trin(std::span<const uint8_t> bytes, std::string_view file,
                                          std::span<const TrinTensorSpec> expected) {
  return TrinReader::from_memory(bytes, file, expected).read_all();
}

// Reads a whole TRIN file (all tensors in memory; TrinReader::open reads one
// at a time). Throws trix::Error naming the file if it is not a regular
// file, cannot be read or is malformed; see TrinReader.
inline std::vector<TrinTensor> read_trin(const std::filesystem::path& path,
                                         std::span<const TrinTensorSpec> expected) {
  return TrinReader::open(path, expected).read_all();
}

// Encodes tensors into TRIN bytes. Throws trix::Error if a tensor's values
// do not number rows * cols or hold anything but -1, 0, +1.
inline std::vector<uint8_t> encode_trin(std::span<const TrinTensorView> tensors) {
  std::vector<uint8_t> out(kTrinMagic, kTrinMagic + sizeof kTrinMagic);
  for (size_t t = 0; t < tensors.size(); ++t) {
    const TrinTensorView& tensor = tensors[t];
    const std::string label =
        detail::trin_tensor_label(std::string(tensor.name), t, tensors.size());
    uint64_t length = 0;
    if (!detail::trin_payload_bytes(tensor.rows, tensor.cols, &length)) {
      throw Error("encode_trin: " + label + ": shape too large for a TRIN tensor");
    }
    const uint64_t n = tensor.rows * tensor.cols;
    if (tensor.values.size() != n) {
      throw Error("encode_trin: " + label + ": " + std::to_string(tensor.values.size()) +
                  " values, expected " + std::to_string(n));
    }
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<uint8_t>(length >> shift));
    const size_t base = out.size();
    out.resize(base + length, 0);
    for (uint64_t i = 0; i < n; ++i) {
      const int8_t v = tensor.values[i];
      if (v < -1 || v > 1) {
        throw Error("encode_trin: " + label + ": value " + std::to_string(v) + " at index " +
                    std::to_string(i) + " is not -1, 0 or +1");
      }
      trix::detail::or_code<BlockTRIN>(out.data() + base, i, static_cast<uint32_t>(v + 1));
    }
  }
  return out;
}

// Writes tensors to a TRIN file (see encode_trin) through trix::OutputFile:
// `path` must not be one of `inputs` nor a non-regular file, and is replaced
// only once the whole file is written. Throws trix::Error naming the file if
// it cannot be written.
inline void write_trin(const std::filesystem::path& path, std::span<const TrinTensorView> tensors,
                       const std::vector<std::filesystem::path>& inputs = {}) {
  check_output_path(path, inputs);
  const std::vector<uint8_t> bytes = encode_trin(tensors);
  OutputFile out(path, inputs);
  out.write(bytes);
  out.commit();
}

}  // namespace trix
