// End to end with the quant types llama.cpp users' files hold: models
// quantized by trix-quantize's library (plan_quantization +
// quantize_gguf_file, what the tool runs), loaded by the GGUF loader and
// generating greedy, against the same model in F32.
//  * stories260K (../shared/models/stories260K) to Q4_0: every 64-wide
//    matrix in Q4_0, ffn_down (172-wide rows, not whole blocks) in F16 via
//    --fallback. Its rows are too short for any K-quant (64 < 256), so
//    "Q5_K" of stories260K is what llama.cpp's quantizer makes of it: the
//    64-wide matrices fall back to Q5_1 (llama.cpp's fallback for Q5_K),
//    ffn_down to F16 by rule.
//  * the synthetic small model (trix/convert/synthetic_bitnet.h, F32
//    variant: dim 256, ffn 512, vocab 320) to Q5_K and to Q4_0: every
//    matrix in that type, Q5_K's Highway GEMV in every projection.
// Two comparisons per model:
//  1. the runtime on the quantized file against the same weights
//     dequantized into an F32 file (the quantization error taken out: what
//     is left is the activations' Q8_0 / Q8_K rounding): max |logit - f32|
//     / max |f32 logit| over 32 positions must stay below 5%, and the
//     greedy ids agree: all 40 for the synthetic model, the first 20 of 61
//     for stories260K (measured: Q4_0 all 61, Q5_1 27: a near tie the
//     activation rounding tips);
//  2. against the original F32 model (the format's own error), recorded as
//     test properties (ids matching before the first difference, the
//     relative logit error), with thresholds about 1.5x above the measured
//     values: stories Q4_0 27 ids / 0.45, Q5_1 27 / 0.099; synthetic Q5_K
//     40 of 40 / 0.075, Q4_0 7 / 0.23 (ternary weights: Q4_0 holds
//     -max exactly but +max only as 7/8 of it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/greedy.h"
#include "common/shared_data.h"
#include "common/stories260k_expected.h"
#include "trix/convert/quantize.h"
#include "trix/convert/synthetic_bitnet.h"
#include "trix/formats/traits.h"
#include "trix/io/gguf_writer.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/loader.h"
#include "trix/runtime/sampler.h"

namespace {

namespace fs = std::filesystem;
using trix::FormatId;
using trix::GgufReader;
using trix::LoadedModel;

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("trix_user_quants_" + std::to_string(::getpid()) + "_" + name);
}

// Quantizes `in` to `out` as `trix-quantize --type T [--fallback F]
// [--keep rule]` does.
void quantize_file(const fs::path& in, const fs::path& out, FormatId type, std::optional<FormatId> fallback,
                   std::vector<trix::FormatRule> rules = {}) {
  const GgufReader reader = GgufReader::open(in);
  trix::QuantizeOptions opt;
  opt.type = type;
  opt.fallback = fallback;
  opt.rules = std::move(rules);
  const trix::QuantizePlan plan = trix::plan_quantization(reader, opt);
  trix::ThreadPool pool(2);
  trix::quantize_gguf_file(reader, plan, opt, out, {in}, pool);
}

// Copies `src` to `dst` with every tensor of a quantized format (one with
// a dequantizer, not a float format) dequantized to F32.
void write_dequantized_copy(const fs::path& src, const fs::path& dst) {
  const GgufReader in = GgufReader::open(src);
  trix::GgufWriter g(dst);
  for (const auto& [k, v] : in.metadata()) g.set(k, v);
  const auto dequantized = [](const trix::GgufTensor& t) {
    const trix::FormatTraits& f = trix::format_traits(t.format);
    return !f.is_float && f.dequantize_row != nullptr;
  };
  for (const auto& t : in.tensors()) {
    g.add_tensor(t.name, dequantized(t) ? FormatId::F32 : t.format, std::span<const uint64_t>(t.ne.data(), t.n_dims));
  }
  for (const auto& t : in.tensors()) {
    if (!dequantized(t)) {
      g.write_tensor_data(t.bytes());
      continue;
    }
    const trix::FormatTraits& f = trix::format_traits(t.format);
    const auto cols = static_cast<size_t>(t.ne[0]);
    const auto row_bytes = static_cast<size_t>(trix::format_nbytes(f, cols));
    std::vector<float> row(cols);
    for (uint64_t r = 0; r < t.n_rows(); ++r) {
      f.dequantize_row(t.data + r * row_bytes, row.data(), cols);
      g.write_tensor_data(std::span<const float>(row));
    }
  }
  g.finish();
}

std::vector<int32_t> greedy(const LoadedModel& m, size_t threads, int64_t n, int32_t first) {
  return trix::test::greedy_ids(m, threads, n, first, -1);  // the whole length, EOS or not: more to compare
}

// max over the positions of `first` then the first n - 1 of `then` of
// max_v |logit - f32| / max_v |f32 logit|.
double relative_logit_error(const LoadedModel& f32, const LoadedModel& q, int32_t first,
                            const std::vector<int32_t>& then, size_t n) {
  std::vector<int32_t> prompt = {first};
  prompt.insert(prompt.end(), then.begin(), then.begin() + static_cast<std::ptrdiff_t>(std::min(n - 1, then.size())));
  trix::ThreadPool pool(2);
  trix::Decoder<trix::RuntimeShape> a(trix::RuntimeShape::from(f32.config), f32.weights, pool);
  trix::Decoder<trix::RuntimeShape> b(trix::RuntimeShape::from(q.config), q.weights, pool);
  double worst = 0;
  for (int32_t tok : prompt) {
    const auto la = a.decode(tok);
    const std::vector<float> ref(la.begin(), la.end());
    const auto lb = b.decode(tok);
    double scale = 0, err = 0;
    for (size_t v = 0; v < ref.size(); ++v) {
      scale = std::max(scale, std::fabs(double{ref[v]}));
      err = std::max(err, std::fabs(double{lb[v]} - ref[v]));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// What a quantized model must show (see the file comment). `f32`: the
// original model; `quantized`: its quantized file; greedy from `first` for
// n ids. Returns {ids matching f32, relative logit error against f32}.
struct Agreement {
  size_t ids;
  double logits;
  size_t ids_vs_dequantized;
  double logits_vs_dequantized;
};
Agreement check_quantized(const LoadedModel& f32, const fs::path& quantized, int32_t first, int64_t n,
                          size_t min_ids_vs_dequantized) {
  const fs::path deq_path = quantized.string() + ".dequantized.gguf";
  write_dequantized_copy(quantized, deq_path);
  const LoadedModel q = trix::load_model(quantized);
  const LoadedModel deq = trix::load_model(deq_path);
  fs::remove(deq_path);
  const auto got = greedy(q, 2, n, first);
  EXPECT_EQ(greedy(q, 1, n, first), got) << "differs between thread counts";
  const auto want_deq = greedy(deq, 2, n, first);
  Agreement a{};
  a.ids_vs_dequantized = common_prefix(got, want_deq);
  a.logits_vs_dequantized = relative_logit_error(deq, q, first, want_deq, 32);
  EXPECT_GE(a.ids_vs_dequantized, std::min(min_ids_vs_dequantized, want_deq.size()));
  EXPECT_LE(a.logits_vs_dequantized, 0.05);
  const auto want = greedy(f32, 2, n, first);
  a.ids = common_prefix(got, want);
  a.logits = relative_logit_error(f32, q, first, want, 32);
  return a;
}

void record(const std::string& name, const Agreement& a) {
  ::testing::Test::RecordProperty(name + "_tokens_matching_f32", static_cast<int>(a.ids));
  ::testing::Test::RecordProperty(name + "_relative_logit_error", std::to_string(a.logits));
  ::testing::Test::RecordProperty(name + "_tokens_matching_dequantized", static_cast<int>(a.ids_vs_dequantized));
  ::testing::Test::RecordProperty(name + "_relative_logit_error_vs_dequantized",
                                  std::to_string(a.logits_vs_dequantized));
}

class StoriesQuantized : public ::testing::Test {
 protected:
  void SetUp() override {
    TRIX_REQUIRE_SHARED_FILE(src, "models/stories260K/stories260K-llamacpp.gguf");
    src_ = src;
  }
  // Checks `out` (stories260K quantized) against F32 (check_quantized),
  // then removes it and records the agreement under `name`.
  void check_against_f32(const fs::path& out, const std::string& name, size_t min_ids, double max_logit_error) {
    const LoadedModel f32 = trix::load_model(src_);
    const Agreement a = check_quantized(f32, out, f32.tokenizer.bos(), 61, 20);
    fs::remove(out);
    record(name, a);
    EXPECT_GE(a.ids, min_ids);
    EXPECT_LE(a.logits, max_logit_error);
  }
  fs::path src_;
};

TEST_F(StoriesQuantized, Q4_0GeneratesCloseToF32) {
  const fs::path out = temp_path("stories_q4_0.gguf");
  quantize_file(src_, out, FormatId::Q4_0, FormatId::F16);
  {
    const LoadedModel q = trix::load_model(out);
    EXPECT_EQ(q.weights.layers[0].wq.format, FormatId::Q4_0);
    EXPECT_EQ(q.weights.layers[0].w_gate.format, FormatId::Q4_0);
    EXPECT_EQ(q.weights.token_embd.format, FormatId::Q4_0);
    EXPECT_EQ(q.weights.layers[0].w_down.format, FormatId::F16);  // 172-wide rows
  }
  check_against_f32(out, "q4_0", 18, 0.7);
}

TEST_F(StoriesQuantized, Q5_KFallsBackAsLlamaCppAndGeneratesCloseToF32) {
  const fs::path out = temp_path("stories_q5_k.gguf");
  quantize_file(src_, out, FormatId::Q5_K, FormatId::Q5_1, {{"blk.*.ffn_down.weight", FormatId::F16}});
  {
    const GgufReader r = GgufReader::open(out);
    EXPECT_EQ(r.get_u32("general.file_type"), 17u);  // LLAMA_FTYPE_MOSTLY_Q5_K_M
    const LoadedModel q = trix::load_model(out);
    EXPECT_EQ(q.weights.layers[0].wq.format, FormatId::Q5_1);
    EXPECT_EQ(q.weights.layers[0].w_down.format, FormatId::F16);
  }
  check_against_f32(out, "q5_1", 18, 0.15);
}

// The synthetic model: every matrix in the type (no fallback needed).
class SyntheticQuantized : public ::testing::TestWithParam<FormatId> {};

TEST_P(SyntheticQuantized, EveryMatrixInTheTypeGeneratesCloseToF32) {
  const FormatId type = GetParam();
  const std::string name = trix::format_traits(type).name;
  const fs::path f32_path = temp_path("synthetic_f32.gguf"), out = temp_path("synthetic_" + name + ".gguf");
  {
    trix::ThreadPool pool(2);
    trix::write_synthetic_bitnet(trix::SyntheticBitnetOptions::small(FormatId::F32), f32_path, pool);
  }
  quantize_file(f32_path, out, type, std::nullopt);
  const LoadedModel f32 = trix::load_model(f32_path);
  {
    const LoadedModel q = trix::load_model(out);
    for (const auto& l : q.weights.layers) {
      for (const trix::WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
        EXPECT_EQ(w->format, type);
      }
    }
    EXPECT_EQ(q.weights.token_embd.format, type);
  }
  const Agreement a = check_quantized(f32, out, 5, 40, 40);
  fs::remove(f32_path);
  fs::remove(out);
  record(name, a);
  if (type == FormatId::Q5_K) {
    EXPECT_GE(a.ids, 30u);
    EXPECT_LE(a.logits, 0.12);
  } else {
    EXPECT_GE(a.ids, 4u);
    EXPECT_LE(a.logits, 0.35);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, SyntheticQuantized, ::testing::Values(FormatId::Q5_K, FormatId::Q4_0),
                         [](const ::testing::TestParamInfo<FormatId>& i) {
                           return std::string(trix::format_traits(i.param).name);
                         });

}  // namespace
