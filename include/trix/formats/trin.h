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
// It never reads outside the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
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
  uint32_t code(uint64_t i) const { return formats_detail::get_code<BlockTRIN>(packed.data(), i); }
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

namespace formats_detail {

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

}  // namespace formats_detail

// Parses a whole TRIN file held in memory. `file` names it in error messages.
inline std::vector<TrinTensor> parse_trin(std::span<const uint8_t> bytes, std::string_view file,
                                          std::span<const TrinTensorSpec> expected) {
  if (bytes.size() < sizeof kTrinMagic || std::memcmp(bytes.data(), kTrinMagic, sizeof kTrinMagic) != 0) {
    std::string found;
    for (size_t i = 0; i < bytes.size() && i < sizeof kTrinMagic; ++i) {
      const uint8_t c = bytes[i];
      if (c >= 0x20 && c < 0x7f) {
        found += static_cast<char>(c);
      } else {
        constexpr char kHex[] = "0123456789abcdef";
        found += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
      }
    }
    throw error_at(file, 0, "expected magic \"TRIN\", found \"" + found + "\" (" +
                                std::to_string(bytes.size()) + "-byte file)");
  }
  std::vector<TrinTensor> tensors;
  tensors.reserve(expected.size());
  uint64_t pos = sizeof kTrinMagic;
  for (size_t t = 0; t < expected.size(); ++t) {
    const TrinTensorSpec& spec = expected[t];
    const std::string label = formats_detail::trin_tensor_label(spec.name, t, expected.size());
    uint64_t want = 0;
    if (!formats_detail::trin_payload_bytes(spec.rows, spec.cols, &want)) {
      throw error_at(file, pos, label + ": shape " + std::to_string(spec.rows) + " x " +
                                    std::to_string(spec.cols) + " is too large for a TRIN tensor");
    }
    const uint64_t left = bytes.size() - pos;
    if (left < 4) {
      throw error_at(file, pos, label + ": truncated length prefix: need 4 bytes, " +
                                    std::to_string(left) + " left");
    }
    const uint8_t* p = bytes.data() + pos;
    const uint64_t length = uint64_t{p[0]} | uint64_t{p[1]} << 8 | uint64_t{p[2]} << 16 | uint64_t{p[3]} << 24;
    if (length != want) {
      throw error_at(file, pos, label + ": length prefix says " + std::to_string(length) +
                                    " bytes, expected " + std::to_string(want) + " for " +
                                    std::to_string(spec.rows) + " x " + std::to_string(spec.cols) +
                                    " weights");
    }
    pos += 4;
    if (bytes.size() - pos < length) {
      throw error_at(file, pos, label + ": truncated payload: need " + std::to_string(length) +
                                    " bytes, " + std::to_string(bytes.size() - pos) + " left");
    }
    TrinTensor tensor;
    tensor.spec = spec;
    tensor.file_offset = pos;
    tensor.packed.assign(bytes.begin() + static_cast<ptrdiff_t>(pos),
                         bytes.begin() + static_cast<ptrdiff_t>(pos + length));
    const uint64_t n = tensor.size();
    for (uint64_t i = 0; i < n; ++i) {
      if (tensor.code(i) == 3) {
        throw error_at(file, pos + formats_detail::code_byte<BlockTRIN>(i), label + ": weight " + std::to_string(i) +
                                              " has code 3; expected 0, 1 or 2 (-1, 0, +1)");
      }
    }
    pos += length;
    tensors.push_back(std::move(tensor));
  }
  if (pos != bytes.size()) {
    const std::string after = expected.empty()
                                  ? std::string("the magic (no tensors expected)")
                                  : "the last tensor '" + expected.back().name + "'";
    throw error_at(file, pos, std::to_string(bytes.size() - pos) + " trailing bytes after " + after +
                                  "; expected end of file");
  }
  return tensors;
}

// Reads a TRIN file. Throws trix::Error (naming the file) if it cannot be
// read or is malformed; see parse_trin.
inline std::vector<TrinTensor> read_trin(const std::filesystem::path& path,
                                         std::span<const TrinTensorSpec> expected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open TRIN file");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path.string() + ": read error");
  return parse_trin(bytes, path.string(), expected);
}

// Encodes tensors into TRIN bytes. Throws trix::Error if a tensor's values
// do not number rows * cols or hold anything but -1, 0, +1.
inline std::vector<uint8_t> encode_trin(std::span<const TrinTensorView> tensors) {
  std::vector<uint8_t> out(kTrinMagic, kTrinMagic + sizeof kTrinMagic);
  for (size_t t = 0; t < tensors.size(); ++t) {
    const TrinTensorView& tensor = tensors[t];
    const std::string label =
        formats_detail::trin_tensor_label(std::string(tensor.name), t, tensors.size());
    uint64_t length = 0;
    if (!formats_detail::trin_payload_bytes(tensor.rows, tensor.cols, &length)) {
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
      formats_detail::or_code<BlockTRIN>(out.data() + base, i, static_cast<uint32_t>(v + 1));
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
