// A small reader for the safetensors format (what PyTorch users save a
// state_dict to): an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
// ..., optional "__metadata__": {string: string}}), then the raw tensor
// bytes, little-endian, offsets relative to the end of the header. The JSON
// is parsed with nlohmann::json (Debian's nlohmann-json3-dev).
//
// Everything is checked before a tensor is handed out: the header length
// against the file, the JSON (its error names the byte offset in the file),
// every entry's dtype, shape and offsets (inside the data section, and
// exactly the shape's element count times the dtype's size). Errors are
// trix::Error naming the file, the tensor and key, and the file offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trix/core/error.h"
#include "trix/core/fp16.h"
#include "trix/io/mapped_file.h"

namespace trix {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;            // "F32", "F16", "BF16", "I64", ...
  std::vector<uint64_t> shape;  // outermost first (PyTorch order)
  uint64_t file_offset = 0;     // of its first byte in the file
  std::span<const uint8_t> bytes;

  uint64_t elements() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    return n;
  }
};

class SafetensorsReader {
 public:
  static SafetensorsReader open(const std::filesystem::path& path) {
    auto file = std::make_shared<MappedFile>(path);
    SafetensorsReader r(file->bytes(), path.string());
    r.file_ = std::move(file);
    return r;
  }
  // Reads caller-owned bytes (which must outlive the reader).
  static SafetensorsReader from_memory(std::span<const uint8_t> bytes, std::string name = "<memory>") {
    return SafetensorsReader(bytes, std::move(name));
  }

  const std::string& name() const { return name_; }
  const std::map<std::string, SafetensorsTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsTensor* find(const std::string& name) const {
    const auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }
  const SafetensorsTensor& tensor(const std::string& name) const {
    if (const SafetensorsTensor* t = find(name)) return *t;
    throw Error(name_ + ": no tensor '" + name + "'");
  }

  // The tensor's values as f32 (F32 as is; F16, BF16 widened exactly;
  // F64 rounded). Throws naming the tensor for any other dtype.
  std::vector<float> to_f32(const SafetensorsTensor& t) const {
    std::vector<float> out(static_cast<size_t>(t.elements()));
    const uint8_t* p = t.bytes.data();
    for (size_t i = 0; i < out.size(); ++i) {
      if (t.dtype == "F32") {
        std::memcpy(&out[i], p + 4 * i, 4);
      } else if (t.dtype == "F16" || t.dtype == "BF16") {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = t.dtype == "F16" ? fp16_to_fp32(h) : bf16_to_fp32(h);
      } else if (t.dtype == "F64") {
        double v;
        std::memcpy(&v, p + 8 * i, 8);
        out[i] = static_cast<float>(v);
      } else {
        throw Error(name_ + ": tensor '" + t.name + "' has dtype " + t.dtype +
                    ", expected a floating-point one (F32, F16, BF16, F64)");
      }
    }
    return out;
  }

  // Bytes per element of a dtype, 0 for an unknown one.
  static size_t dtype_size(const std::string& dtype) {
    static const std::map<std::string, size_t> sizes = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
        {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8}};
    const auto it = sizes.find(dtype);
    return it == sizes.end() ? 0 : it->second;
  }

 private:
  SafetensorsReader(std::span<const uint8_t> bytes, std::string name) : name_(std::move(name)) { parse(bytes); }

  [[noreturn]] void fail(uint64_t offset, const std::string& what) const {
    throw Error(name_ + ": offset " + std::to_string(offset) + ": " + what);
  }

  void parse(std::span<const uint8_t> bytes) {
    if (bytes.size() < 8) {
      fail(0, "file of " + std::to_string(bytes.size()) + " bytes, too short for the 8-byte header length");
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<size_t>(i)];
    if (n < 2 || n > bytes.size() - 8 || n > (uint64_t{100} << 20)) {
      fail(0, "header length " + std::to_string(n) + " does not fit the file (" + std::to_string(bytes.size()) +
                  " bytes) or the format's 100 MB limit");
    }
    const auto* text = reinterpret_cast<const char*>(bytes.data() + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, text + n);
    } catch (const nlohmann::json::parse_error& e) {
      fail(8 + (e.byte > 0 ? e.byte - 1 : 0), std::string("header JSON: ") + e.what());
    }
    if (!header.is_object()) fail(8, "header JSON is not an object");
    const uint64_t data_start = 8 + n;
    const uint64_t data_size = bytes.size() - data_start;
    for (const auto& [key, entry] : header.items()) {
      const std::string where = "tensor '" + key + "': ";
      if (key == "__metadata__") {
        if (!entry.is_object()) fail(8, "__metadata__ is not an object");
        for (const auto& [k, v] : entry.items()) {
          if (!v.is_string()) fail(8, "__metadata__ '" + k + "' is not a string");
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      if (!entry.is_object()) fail(8, where + "entry is not an object");
      const auto dt = entry.find("dtype");
      if (dt == entry.end() || !dt->is_string()) fail(8, where + "field 'dtype' is missing or not a string");
      SafetensorsTensor t;
      t.name = key;
      t.dtype = dt->get<std::string>();
      const size_t esize = dtype_size(t.dtype);
      if (esize == 0) fail(8, where + "field 'dtype' = \"" + t.dtype + "\" is not a safetensors dtype");
      const auto sh = entry.find("shape");
      if (sh == entry.end() || !sh->is_array()) fail(8, where + "field 'shape' is missing or not an array");
      uint64_t elements = 1;
      for (const auto& d : *sh) {
        if (!d.is_number_unsigned()) fail(8, where + "field 'shape' holds " + d.dump() + ", not a size");
        const auto v = d.get<uint64_t>();
        if (v != 0 && elements > (uint64_t{1} << 48) / v) fail(8, where + "field 'shape' is too large");
        elements *= v;
        t.shape.push_back(v);
      }
      const auto off = entry.find("data_offsets");
      if (off == entry.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
          !(*off)[1].is_number_unsigned()) {
        fail(8, where + "field 'data_offsets' is missing or not [begin, end]");
      }
      const auto begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
      if (begin > end || end > data_size) {
        fail(data_start + begin, where + "field 'data_offsets' [" + std::to_string(begin) + ", " +
                                     std::to_string(end) + "] is outside the data section of " +
                                     std::to_string(data_size) + " bytes");
      }
      if (end - begin != elements * esize) {
        fail(data_start + begin, where + "field 'data_offsets' spans " + std::to_string(end - begin) +
                                     " bytes, expected " + std::to_string(elements * esize) + " for shape " +
                                     sh->dump() + " of " + t.dtype);
      }
      t.file_offset = data_start + begin;
      t.bytes = bytes.subspan(static_cast<size_t>(data_start + begin), static_cast<size_t>(end - begin));
      tensors_.emplace(key, std::move(t));
    }
  }

  std::string name_;
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace trix
