// The shape of a format's traits entry (ggml's type_traits): what the
// runtime, the quantizer and the bench need to know about a format, as data.
// The table itself, kFormatTraits, is generated from specs/formats/*.yaml
// into trix/formats/traits.h; this header holds the struct and the adaptors
// that turn each codec's typed functions (quantize_row_q8_0(const float*,
// BlockQ8_0*, size_t), ...) into the type-erased pointers of the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>

#include "trix/formats/blocks.h"

namespace trix {

// How prepare_weight (trix/runtime/matmul.h) readies weights of a format.
enum class Prepare : uint8_t {
  None,          // run on the rows as stored
  Packed4,       // repacked to packed4 (trix/cpu/ternary_packed.h) for the packed kernels
  HugePageCopy,  // rows copied into huge pages (streamed once per token)
};

// f32 -> whole blocks of a format (n a multiple of the block size).
using QuantizeRowFn = void (*)(const float* x, void* y, size_t n);
// Whole blocks -> f32.
using DequantizeRowFn = void (*)(const void* x, float* y, size_t n);
// Per-tensor-scale formats: rows x cols values -> the codes of every row,
// then the trailer, whose first 4 bytes are the f32 tensor scale.
using QuantizeTensorFn = void (*)(const float* x, size_t rows, size_t cols, uint8_t* out);
// Per-tensor-scale formats: the scale stored in a rows x cols tensor's trailer.
using TensorScaleFn = float (*)(const uint8_t* data, size_t rows, size_t cols);
// Dot product of one weight row with one activation row of n elements.
using VecDotFn = float (*)(const void* w, const void* a, size_t n);

struct FormatTraits {
  FormatId id;
  const char* name;
  uint32_t block_elements;
  uint32_t block_bytes;
  uint32_t trailer_bytes;   // per tensor (weights) or per row (activations)
  int32_t ggml_type;        // peer's type id, -1 if it has none
  int32_t llama_file_type;  // llama.cpp's LLAMA_FTYPE_* of a file mostly in it, -1 if none
  bool is_float;            // IEEE f32/f16/bf16: a source quantize_tensor converts from
  bool gguf_weights;        // may hold model weights in a GGUF file
  bool activations;         // a reference matmul may quantize activations to it
  // Row codec; nullptr where there is none. For per-tensor-scale formats
  // dequantize_row gives the values at tensor scale 1.
  QuantizeRowFn quantize_row;
  DequantizeRowFn dequantize_row;
  // Per-tensor-scale formats (I2_S): whole-tensor quantizer and scale reader.
  QuantizeTensorFn quantize_rows_tensor_scale;
  TensorScaleFn tensor_scale;
  // Activation formats: one activation row, format_nbytes(n) bytes (its
  // per-row trailer included).
  QuantizeRowFn quantize_activations;
  // Reference matmul (trix/runtime/reference_ops.h): activations quantized
  // to matmul_activations, then vec_dot per (row, token). vec_dot == nullptr:
  // the runtime cannot multiply by this format.
  FormatId matmul_activations;
  VecDotFn vec_dot;
  Prepare prepare;
  const char* kernels;  // kernel specs that consume the format, ", "-separated ("" if none)
};

// Bytes of one row (or tensor) of n elements, trailer included.
constexpr uint64_t format_nbytes(const FormatTraits& f, uint64_t n_elements) {
  return n_elements / f.block_elements * f.block_bytes + f.trailer_bytes;
}

namespace detail {

template <class Fn>
struct FnArgs;
template <class R, class... A>
struct FnArgs<R (*)(A...)> {
  template <size_t I>
  using Arg = std::tuple_element_t<I, std::tuple<A...>>;
};
template <auto Fn, size_t I>
using ArgOf = typename FnArgs<decltype(Fn)>::template Arg<I>;

// Type-erased calls of a codec's typed functions (the table's entries).
template <auto Fn>
void quantize_row_erased(const float* x, void* y, size_t n) {
  Fn(x, static_cast<ArgOf<Fn, 1>>(y), static_cast<ArgOf<Fn, 2>>(n));
}
template <auto Fn>
void dequantize_row_erased(const void* x, float* y, size_t n) {
  Fn(static_cast<ArgOf<Fn, 0>>(x), y, static_cast<ArgOf<Fn, 2>>(n));
}
template <auto Fn>
float vec_dot_erased(const void* w, const void* a, size_t n) {
  return Fn(static_cast<ArgOf<Fn, 0>>(w), static_cast<ArgOf<Fn, 1>>(a), static_cast<ArgOf<Fn, 2>>(n));
}

}  // namespace detail
}  // namespace trix
