// The library behind trix-quantize: convert float tensors (F32/F16/BF16) to
// any TriX weight format, tensor by tensor, and whole GGUF files with a
// format per tensor name pattern.
//
// Streaming: a tensor is converted in chunks of whole rows (a few MiB of
// input at a time), each chunk split across the thread pool by rows and its
// bytes handed to a sink in order, so neither the input model (mmapped) nor
// the output ever has to sit in memory. Every row is quantized by exactly
// one task with the formats' scalar-reference code (TQ2_0 with its
// byte-identical fast path), so the bytes do not depend on the thread count
// or the chunk size. I2_S has one scale per tensor: its codes depend only on
// each value's sign and magnitude (|x| < 1e-6 -> 0), so chunks are packed
// independently and the trailer gets the maximum of the chunks' scales,
// which is quantize_i2_s's scale of the whole tensor.
//
// Format choice for a GGUF tensor (plan_quantization):
//   1. the first --keep rule whose glob (`*`, `?`) matches the whole name;
//   2. else 1-D tensors (norms, biases) become F32 (the runtime keeps norms
//      in f32);
//   3. else the default type.
// Tensors already in a quantized format are copied byte for byte (a rule
// that asks to convert one is an error: re-quantizing loses precision).
// A row length (ne[0]) that is not a multiple of the chosen format's block
// size is an error naming the tensor, unless a fallback format is given.
// Metadata is copied in order; general.file_type (llama.cpp's llama_ftype of
// the default type) and general.quantization_version = 2 are set as
// llama.cpp's quantizer does.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/formats/blocks.h"
#include "trix/formats/traits.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"

namespace trix {

// ------------------------------------------------------------ format names

// Looks a format up by name, case-insensitively ("TQ2_0", "q4_k"). Throws
// trix::Error listing the known names.
inline const FormatInfo& parse_format_name(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (const FormatInfo* f = find_format(lower)) return *f;
  std::string known;
  for (const auto& f : kFormatInfos) known += std::string(known.empty() ? "" : ", ") + f.name;
  throw Error("unknown type '" + std::string(name) + "' (known: " + known + ")");
}

// Whether `f` holds model weights in a GGUF file TriX and llama.cpp read
// (a peer type id and the weights role: not Q8_K, an activation format).
inline bool is_gguf_weight_format(FormatId f) { return format_traits(f).gguf_weights; }

// F32, F16, BF16: the formats quantize_tensor converts from.
inline bool is_float_format(FormatId f) { return format_traits(f).is_float; }

// llama.cpp's llama_ftype for a file that is "mostly" format f (the value of
// general.file_type), or nullopt when llama.cpp has none.
inline std::optional<uint32_t> llama_file_type(FormatId f) {
  const int32_t t = format_traits(f).llama_file_type;
  if (t < 0) return std::nullopt;
  return static_cast<uint32_t>(t);
}
inline constexpr uint32_t kGgmlQuantizationVersion = 2;

// ------------------------------------------------------------ row codecs

// Whether f32 values can be converted to `f` (and back): a row codec
// (format_traits(f).quantize_row) or a per-tensor-scale quantizer (I2_S).
// Every row is quantized with the formats' scalar-reference code (TQ2_0
// with its byte-identical fast path), as the traits table names it.
inline bool has_quantizer(FormatId f) {
  const FormatTraits& t = format_traits(f);
  return t.quantize_row != nullptr || t.quantize_rows_tensor_scale != nullptr;
}

// Throws unless a row of `cols` values fits whole blocks of `f`. `what`
// names the tensor or input in the message.
inline void require_row_fits(FormatId f, uint64_t cols, const std::string& what) {
  const FormatInfo& fi = format_info(f);
  if (cols % fi.block_elements != 0) {
    throw Error(what + ": row length " + std::to_string(cols) + " is not a multiple of the " +
                fi.name + " block size " + std::to_string(fi.block_elements));
  }
}

namespace detail {
// a * b, or trix::Error naming `what` when it overflows 64 bits.
inline uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) {
    throw Error(what + ": size " + std::to_string(a) + " x " + std::to_string(b) + " overflows 64 bits");
  }
  return r;
}
}  // namespace detail

// Bytes of one row of `cols` values (a multiple of the block size).
inline uint64_t row_nbytes(FormatId f, uint64_t cols) {
  const FormatInfo& fi = format_info(f);
  return cols / fi.block_elements * fi.block_bytes;
}

// Bytes of a rows x cols tensor, per-tensor trailer (I2_S) included; 0 for
// an empty tensor, as GGUF stores it.
inline uint64_t tensor_nbytes(FormatId f, uint64_t rows, uint64_t cols) {
  if (rows == 0 || cols == 0) return 0;
  return detail::checked_mul(rows, row_nbytes(f, cols), "tensor of " + std::to_string(rows) + " rows") +
         format_info(f).trailer_bytes;
}

// ------------------------------------------------------------ streaming conversion

using ByteSink = std::function<void(std::span<const uint8_t>)>;
// Called after each chunk with the number of rows finished so far.
using RowsDone = std::function<void(uint64_t)>;

inline constexpr size_t kDefaultChunkElements = size_t{1} << 22;  // 16 MiB of f32 per chunk

// Converts a rows x cols tensor stored as `src` (F32, F16 or BF16, rows
// contiguous) to `dst`, handing the output bytes to `sink` in order (the
// I2_S trailer last). Throws trix::Error, before any output, when the
// formats, the byte count of `src` or the row length do not fit; `what`
// names the tensor in those messages.
inline void quantize_tensor(std::span<const uint8_t> src, FormatId src_format, uint64_t rows,
                            uint64_t cols, FormatId dst, ThreadPool& pool, const ByteSink& sink,
                            const RowsDone& on_rows = {}, const std::string& what = "tensor",
                            size_t chunk_elements = kDefaultChunkElements) {
  if (!is_float_format(src_format)) {
    throw Error(what + ": cannot convert from " + format_info(src_format).name +
                " (the input must be f32, f16 or bf16)");
  }
  if (!has_quantizer(dst)) {
    throw Error(what + ": no quantizer from f32 to " + std::string(format_info(dst).name));
  }
  const uint64_t in_elem = format_info(src_format).block_bytes;
  const uint64_t in_bytes = detail::checked_mul(
      detail::checked_mul(rows, cols, what), in_elem, what);
  if (src.size() != in_bytes) {
    throw Error(what + ": expected " + std::to_string(in_bytes) + " bytes of " +
                format_info(src_format).name + " (" + std::to_string(rows) + " rows x " +
                std::to_string(cols) + " values), got " + std::to_string(src.size()));
  }
  require_row_fits(dst, cols, what);
  if (rows == 0 || cols == 0) return;

  const FormatTraits& codec = format_traits(dst);
  const FormatTraits& decode_src = format_traits(src_format);
  const bool per_tensor_scale = codec.tensor_scale != nullptr;
  const size_t trailer_bytes = codec.trailer_bytes;
  const uint64_t out_row = row_nbytes(dst, cols);
  const uint64_t rows_per_chunk = std::clamp<uint64_t>(chunk_elements / cols, 1, rows);
  const size_t n_threads = pool.num_threads();
  // Per thread: whole rows of f32 (unless the input is aligned f32, read in
  // place), a copy of the input rows when they are not aligned for their
  // element type (GGUF allows alignment 1), and for I2_S packed bytes plus
  // a trailer. All allocated here: pool tasks must not throw.
  const uint64_t batch_rows = std::clamp<uint64_t>((uint64_t{1} << 16) / cols, 1, rows_per_chunk);
  const bool src_aligned = reinterpret_cast<uintptr_t>(src.data()) % alignof(float) == 0;
  const bool direct_f32 = src_format == FormatId::F32 && src_aligned;
  std::vector<std::vector<float>> scratch(n_threads);
  std::vector<std::vector<uint8_t>> raw(n_threads);
  std::vector<std::vector<uint8_t>> packed(n_threads);
  for (size_t t = 0; t < n_threads; ++t) {
    if (!direct_f32) scratch[t].resize(batch_rows * cols);
    if (!src_aligned) raw[t].resize(batch_rows * cols * in_elem);
    if (per_tensor_scale) packed[t].resize(batch_rows * out_row + trailer_bytes);
  }
  std::vector<float> thread_scale(n_threads, 0.0f);
  float tensor_scale = 0.0f;
  std::vector<uint8_t> out(rows_per_chunk * out_row);

  for (uint64_t r0 = 0; r0 < rows; r0 += rows_per_chunk) {
    const uint64_t n_rows = std::min(rows_per_chunk, rows - r0);
    pool.parallel_for(n_threads, [&](size_t task, size_t thread) {
      const auto [b, e] = ThreadPool::chunk(n_rows, n_threads, task);
      for (uint64_t r = b; r < e; r += batch_rows) {
        const uint64_t nr = std::min<uint64_t>(batch_rows, e - r);
        const uint8_t* in = src.data() + (r0 + r) * cols * in_elem;
        if (!src_aligned) {
          std::memcpy(raw[thread].data(), in, nr * cols * in_elem);
          in = raw[thread].data();
        }
        const float* x;
        if (direct_f32) {
          x = reinterpret_cast<const float*>(in);
        } else {
          decode_src.dequantize_row(in, scratch[thread].data(), nr * cols);
          x = scratch[thread].data();
        }
        uint8_t* y = out.data() + r * out_row;
        if (per_tensor_scale) {
          codec.quantize_rows_tensor_scale(x, nr, cols, packed[thread].data());
          std::memcpy(y, packed[thread].data(), nr * out_row);
          thread_scale[thread] =
              std::max(thread_scale[thread], codec.tensor_scale(packed[thread].data(), nr, cols));
        } else {
          codec.quantize_row(x, y, nr * cols);
        }
      }
    });
    sink(std::span<const uint8_t>(out.data(), n_rows * out_row));
    if (on_rows) on_rows(r0 + n_rows);
  }
  if (per_tensor_scale) {
    // Scales are >= 0 and never NaN (fmax drops NaN), so max is exact and
    // independent of the order.
    for (float s : thread_scale) tensor_scale = std::max(tensor_scale, s);
    std::vector<uint8_t> trailer(trailer_bytes, 0);  // the f32 scale, then zeros
    std::memcpy(trailer.data(), &tensor_scale, sizeof tensor_scale);
    sink(std::span<const uint8_t>(trailer.data(), trailer.size()));
  }
}

// The reverse for raw arrays: `src` holds a rows x cols tensor in `format`
// (I2_S: with its trailer); `sink` gets rows * cols little-endian f32.
inline void dequantize_tensor(std::span<const uint8_t> src, FormatId format, uint64_t rows,
                              uint64_t cols, ThreadPool& pool, const ByteSink& sink,
                              const std::string& what = "tensor",
                              size_t chunk_elements = kDefaultChunkElements) {
  if (format_traits(format).dequantize_row == nullptr) {
    throw Error(what + ": no dequantizer from " + std::string(format_info(format).name));
  }
  require_row_fits(format, cols, what);
  const uint64_t expected = tensor_nbytes(format, rows, cols);
  if (src.size() != expected) {
    throw Error(what + ": expected " + std::to_string(expected) + " bytes of " +
                format_info(format).name + " (" + std::to_string(rows) + " rows x " +
                std::to_string(cols) + " values), got " + std::to_string(src.size()));
  }
  if (expected == 0) return;
  const uint64_t in_row = row_nbytes(format, cols);
  const FormatTraits& codec = format_traits(format);
  const bool per_tensor_scale = codec.tensor_scale != nullptr;
  const float scale = per_tensor_scale ? codec.tensor_scale(src.data(), rows, cols) : 0.0f;
  const uint64_t rows_per_chunk = std::clamp<uint64_t>(chunk_elements / cols, 1, rows);
  const size_t n_threads = pool.num_threads();
  std::vector<float> out(rows_per_chunk * cols);
  // Block structs hold u16/f32 fields: decode from an aligned copy when the
  // caller's bytes are not aligned for them.
  const bool aligned = reinterpret_cast<uintptr_t>(src.data()) % alignof(float) == 0;
  std::vector<uint8_t> copy(aligned ? 0 : rows_per_chunk * in_row);
  for (uint64_t r0 = 0; r0 < rows; r0 += rows_per_chunk) {
    const uint64_t n_rows = std::min(rows_per_chunk, rows - r0);
    const uint8_t* in = src.data() + r0 * in_row;
    if (!aligned) {
      std::memcpy(copy.data(), in, n_rows * in_row);
      in = copy.data();
    }
    pool.parallel_for(n_threads, [&](size_t task, size_t) {
      const auto [b, e] = ThreadPool::chunk(n_rows, n_threads, task);
      if (b == e) return;
      float* y = out.data() + b * cols;
      codec.dequantize_row(in + b * in_row, y, (e - b) * cols);
      if (per_tensor_scale) {  // rows dequantize at tensor scale 1
        for (uint64_t i = 0; i < (e - b) * cols; ++i) y[i] *= scale;
      }
    });
    sink(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(out.data()),
                                  n_rows * cols * sizeof(float)));
  }
}

// ------------------------------------------------------------ GGUF files

// Whether `name` matches the glob `pattern` as a whole: `*` matches any run
// of characters (dots included), `?` any one character, anything else
// itself.
inline bool glob_match(std::string_view pattern, std::string_view name) {
  size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// "PATTERN=TYPE": tensors whose name matches PATTERN get TYPE.
struct FormatRule {
  std::string pattern;
  FormatId format = FormatId::F32;
};

// Parses "PATTERN=TYPE" (the last '=' splits, so patterns may hold '=').
// Throws trix::Error naming the rule when either side is empty or the type
// is unknown or cannot hold GGUF weights.
inline FormatRule parse_format_rule(std::string_view spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
    throw Error("rule '" + std::string(spec) + "': expected PATTERN=TYPE, e.g. 'token_embd.weight=q8_0'");
  }
  FormatRule r;
  r.pattern = std::string(spec.substr(0, eq));
  try {
    r.format = parse_format_name(spec.substr(eq + 1)).id;
  } catch (const Error& e) {
    throw Error("rule '" + std::string(spec) + "': " + e.what());
  }
  if (!is_gguf_weight_format(r.format)) {
    throw Error("rule '" + std::string(spec) + "': " + format_info(r.format).name +
                " cannot hold weights in a GGUF file");
  }
  return r;
}

struct QuantizeOptions {
  FormatId type = FormatId::TQ2_0;   // for tensors of 2 or more dims
  std::vector<FormatRule> rules;     // first match wins
  std::optional<FormatId> fallback;  // for row lengths the chosen format cannot hold
  size_t chunk_elements = kDefaultChunkElements;
};

// What happens to one tensor.
struct TensorPlan {
  const GgufTensor* tensor = nullptr;
  FormatId to = FormatId::F32;
  bool copy = false;      // bytes copied as they are
  std::string reason;     // "rule 'PATTERN'", "1-D", "default", "fallback (...)", "already <fmt>"
};

struct QuantizePlan {
  std::vector<TensorPlan> tensors;
  std::vector<std::string> unused_rules;  // patterns that decided no tensor
};

// Chooses each tensor's output format (rules in the header comment).
// Throws trix::Error naming the tensor when a choice cannot work.
inline QuantizePlan plan_quantization(const GgufReader& in, const QuantizeOptions& opt) {
  if (!is_gguf_weight_format(opt.type)) {
    throw Error(std::string("type ") + format_info(opt.type).name + " cannot hold weights in a GGUF file");
  }
  if (opt.fallback && !is_gguf_weight_format(*opt.fallback)) {
    throw Error(std::string("fallback type ") + format_info(*opt.fallback).name +
                " cannot hold weights in a GGUF file");
  }
  QuantizePlan plan;
  std::vector<bool> used(opt.rules.size(), false);
  for (const GgufTensor& t : in.tensors()) {
    TensorPlan p;
    p.tensor = &t;
    const std::string what = in.name() + ": tensor '" + t.name + "'";
    const FormatRule* rule = nullptr;
    for (size_t i = 0; i < opt.rules.size() && !rule; ++i) {
      if (glob_match(opt.rules[i].pattern, t.name)) {
        rule = &opt.rules[i];
        used[i] = true;
      }
    }
    if (!is_float_format(t.format)) {
      if (rule && rule->format != t.format) {
        throw Error(what + " is " + format_info(t.format).name + "; rule '" + rule->pattern + "=" +
                    format_info(rule->format).name +
                    "' would re-quantize it (only f32, f16 and bf16 tensors are converted)");
      }
      p.to = t.format;
      p.copy = true;
      p.reason = std::string("already ") + format_info(t.format).name;
    } else {
      if (rule) {
        p.to = rule->format;
        p.reason = "rule '" + rule->pattern + "'";
      } else if (t.n_dims < 2) {
        p.to = FormatId::F32;
        p.reason = "1-D";
      } else {
        p.to = opt.type;
        p.reason = "default";
      }
      const FormatInfo& fi = format_info(p.to);
      if (t.ne[0] % fi.block_elements != 0) {
        const std::string why = "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                                fi.name + " block size " + std::to_string(fi.block_elements);
        if (!opt.fallback || t.ne[0] % format_info(*opt.fallback).block_elements != 0) {
          const std::string hint =
              opt.fallback ? std::string(" (nor of the fallback ") + format_info(*opt.fallback).name + "'s)"
                           : " (name a format for it with --keep '" + t.name + "=f16', or give --fallback)";
          throw Error(what + ": " + why + hint);
        }
        p.to = *opt.fallback;
        p.reason = "fallback: " + why;
      }
      p.copy = p.to == t.format;
    }
    plan.tensors.push_back(std::move(p));
  }
  for (size_t i = 0; i < opt.rules.size(); ++i) {
    if (!used[i]) plan.unused_rules.push_back(opt.rules[i].pattern);
  }
  return plan;
}

struct QuantizeProgress {
  size_t tensor = 0;        // index of the tensor being converted
  size_t n_tensors = 0;
  const std::string* name = nullptr;
  uint64_t bytes_done = 0;  // input bytes processed over the whole file
  uint64_t bytes_total = 0;
};
using ProgressFn = std::function<void(const QuantizeProgress&)>;

// Writes `in` converted per `plan` into `out` (metadata, tensor infos, then
// each tensor's bytes streamed), and finishes the writer. Tensors keep their
// order and shapes; the output alignment is the input's.
inline void quantize_gguf(const GgufReader& in, const QuantizePlan& plan, const QuantizeOptions& opt,
                          GgufWriter& out, ThreadPool& pool, const ProgressFn& progress = {}) {
  for (const auto& [key, value] : in.metadata()) out.set(key, value);
  if (const auto ft = llama_file_type(opt.type)) out.set_u32("general.file_type", *ft);
  out.set_u32("general.quantization_version", kGgmlQuantizationVersion);

  uint64_t total = 0;
  for (const TensorPlan& p : plan.tensors) {
    const GgufTensor& t = *p.tensor;
    out.add_tensor(t.name, p.to, std::span<const uint64_t>(t.ne.data(), t.n_dims));
    total += t.nbytes;
  }
  uint64_t done = 0;
  QuantizeProgress st;
  st.n_tensors = plan.tensors.size();
  st.bytes_total = total;
  const auto report = [&](size_t i, uint64_t bytes) {
    if (!progress) return;
    st.tensor = i;
    st.name = &plan.tensors[i].tensor->name;
    st.bytes_done = bytes;
    progress(st);
  };
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const TensorPlan& p = plan.tensors[i];
    const GgufTensor& t = *p.tensor;
    report(i, done);
    const ByteSink sink = [&out](std::span<const uint8_t> bytes) { out.write_tensor_data(bytes); };
    if (p.copy) {
      constexpr uint64_t kCopyChunk = uint64_t{16} << 20;
      for (uint64_t off = 0; off < t.nbytes; off += kCopyChunk) {
        const uint64_t n = std::min(kCopyChunk, t.nbytes - off);
        sink(std::span<const uint8_t>(t.data + off, n));
        report(i, done + off + n);
      }
    } else {
      const uint64_t in_row = row_nbytes(t.format, t.ne[0]);
      quantize_tensor(t.bytes(), t.format, t.n_rows(), t.ne[0], p.to, pool, sink,
                      [&](uint64_t rows_done) { report(i, done + rows_done * in_row); },
                      in.name() + ": tensor '" + t.name + "'", opt.chunk_elements);
    }
    done += t.nbytes;
  }
  out.finish();
  if (progress && !plan.tensors.empty()) report(plan.tensors.size() - 1, total);
}

// quantize_gguf into a file, through trix::OutputFile: refused before any
// work if `out_path` is one of `inputs` (pass the path `in` was read from)
// or not a regular file; written to a unique temporary renamed over
// `out_path` when complete, so a failure, a kill by SIGINT/SIGTERM or a
// concurrent run never leaves a truncated or mixed file under the real name.
inline void quantize_gguf_file(const GgufReader& in, const QuantizePlan& plan,
                               const QuantizeOptions& opt, const std::filesystem::path& out_path,
                               const std::vector<std::filesystem::path>& inputs, ThreadPool& pool,
                               const ProgressFn& progress = {}) {
  GgufWriter w(out_path, inputs);
  quantize_gguf(in, plan, opt, w, pool, progress);  // finish() commits
}

}  // namespace trix
