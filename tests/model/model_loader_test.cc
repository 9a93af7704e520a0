// GGUF -> ModelConfig + ModelWeights + Tokenizer (trix/runtime/loader.h):
//  * stories260K through the GGUF path, from our own conversion and from
//    llama.cpp's (../shared/models/stories260K/stories260K-llamacpp.gguf):
//    greedy from BOS gives the README's 61 ids on 1 and 2 threads, and both
//    files give bit-identical logits (llama.cpp's output.weight is a copy of
//    token_embd; its context length 128 leaves room for all 61);
//  * the same model with its weights quantized to Q8_0 (activations to Q8_0
//    too): the first 20 ids must match; measured: all 61 match (recorded
//    as the q8_0_tokens_matching_f32 property);
//  * malformed files: each gives a one-line trix::Error naming the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/greedy.h"
#include "common/shared_data.h"
#include "common/stories260k_expected.h"
#include "model/tools/tiny_gguf.h"
#include "trix/core/thread_pool.h"
#include "trix/formats/q8_0.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/decoder.h"
#include "trix/io/llama2c.h"
#include "trix/convert/llama2c_to_gguf.h"
#include "trix/runtime/loader.h"
#include "trix/runtime/sampler.h"

namespace {

namespace fs = std::filesystem;
using trix::Decoder;
using trix::FormatId;
using trix::GgufReader;
using trix::LoadedModel;
using trix::RuntimeShape;

const std::vector<int32_t>& kExpected = trix::test::kStories260kGreedyIds;

const char* const kReadmeText = trix::test::kStories260kGreedyText;

std::vector<int32_t> greedy(const LoadedModel& m, size_t threads, int64_t n) {
  return trix::test::greedy_ids(m, threads, n, m.tokenizer.bos(), m.tokenizer.eos());
}

std::vector<float> prefill_logits(const LoadedModel& m, std::span<const int32_t> prompt) {
  trix::ThreadPool pool(2);
  Decoder<RuntimeShape> dec(RuntimeShape::from(m.config), m.weights, pool);
  auto l = dec.prefill(prompt);
  return {l.begin(), l.end()};
}

// Copies `src` to `dst` with each 2-D F32 weight whose rows are whole Q8_0
// blocks (ne[0] % 32 == 0) quantized to Q8_0; others stay F32 (stories260K's
// ffn_down rows hold 172 values), as llama.cpp's quantizer falls back too.
void write_q8_0_copy(const GgufReader& src, const fs::path& dst) {
  trix::GgufWriter g(dst);
  for (const auto& [k, v] : src.metadata()) g.set(k, v);
  const auto quantized = [](const trix::GgufTensor& t) {
    return t.n_dims == 2 && t.format == FormatId::F32 && t.ne[0] % 32 == 0;
  };
  for (const auto& t : src.tensors()) {
    g.add_tensor(t.name, quantized(t) ? FormatId::Q8_0 : t.format,
                 std::span<const uint64_t>(t.ne.data(), t.n_dims));
  }
  for (const auto& t : src.tensors()) {
    if (!quantized(t)) {
      g.write_tensor_data(t.bytes());
      continue;
    }
    const size_t cols = static_cast<size_t>(t.ne[0]);
    std::vector<float> row(cols);
    std::vector<trix::BlockQ8_0> q(cols / 32);
    for (uint64_t r = 0; r < t.ne[1]; ++r) {
      std::memcpy(row.data(), t.data + r * cols * 4, cols * 4);
      trix::quantize_row_q8_0(row.data(), q.data(), cols);
      g.write_tensor_data(std::span<const trix::BlockQ8_0>(q));
    }
  }
  g.finish();
}

class StoriesGguf : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = trix::test::shared_dir() / "models/stories260K";
    if (!fs::exists(dir / "stories260K.bin")) return;
    own_path() = fs::temp_directory_path() / ("trix_loader_stories_" + std::to_string(::getpid()) + ".gguf");
    trix::convert_llama2c_to_gguf(dir / "stories260K.bin", dir / "tok512.bin", own_path());
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!own_path().empty()) fs::remove(own_path(), ec);
  }
  static fs::path& own_path() {
    static fs::path p;
    return p;
  }
  void SetUp() override {
    TRIX_REQUIRE_SHARED_FILE(bin, "models/stories260K/stories260K.bin");
    ASSERT_TRUE(fs::exists(own_path())) << bin;
  }
};

TEST_F(StoriesGguf, OwnConversionConfig) {
  const LoadedModel m = trix::load_model(own_path());
  const auto& c = m.config;
  trix::test::expect_stories260k_config(c);
  EXPECT_EQ(c.arch, trix::Arch::Llama);
  EXPECT_EQ(c.rope_style, trix::RopeStyle::Adjacent);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_EQ(m.weights.output.data, m.weights.token_embd.data);
  EXPECT_EQ(m.tokenizer.bos(), 1);
  EXPECT_EQ(m.tokenizer.eos(), 2);
}

TEST_F(StoriesGguf, OwnConversionGreedyMatchesReadme) {
  const LoadedModel m = trix::load_model(own_path());
  EXPECT_EQ(greedy(m, 1, 61), kExpected);
  EXPECT_EQ(greedy(m, 2, 61), kExpected);
  EXPECT_EQ(m.tokenizer.decode(kExpected), kReadmeText);
}

TEST_F(StoriesGguf, LlamaCppGgufGreedyMatchesReadme) {
  TRIX_REQUIRE_SHARED_FILE(path, "models/stories260K/stories260K-llamacpp.gguf");
  const LoadedModel m = trix::load_model(path);
  EXPECT_EQ(m.config.context_length, 128);
  EXPECT_FALSE(m.config.tied_output);
  EXPECT_NE(m.weights.output.data, m.weights.token_embd.data);
  // 1 (BOS) + 61 positions fit the 128-position context.
  EXPECT_EQ(greedy(m, 1, 61), kExpected);
  EXPECT_EQ(greedy(m, 2, 61), kExpected);
}

TEST_F(StoriesGguf, LlamaCppAndOwnConversionGiveIdenticalLogits) {
  TRIX_REQUIRE_SHARED_FILE(path, "models/stories260K/stories260K-llamacpp.gguf");
  const LoadedModel ours = trix::load_model(own_path());
  const LoadedModel theirs = trix::load_model(path);
  std::vector<int32_t> prompt = {1};
  prompt.insert(prompt.end(), kExpected.begin(), kExpected.begin() + 40);
  const auto a = prefill_logits(ours, prompt);
  const auto b = prefill_logits(theirs, prompt);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

// llama.cpp's own logits (../shared/models/stories260K/llamacpp_logits_bos.f32,
// [48][512]: row i is what generated token i was picked from, greedy from
// BOS), step by step through both GGUF files, with an f16 KV cache as
// llama.cpp's default run had. Errors are |ours - llama.cpp| / the row's
// largest |logit|. The greedy ids alone miss model-level bugs: the attention
// RMSNorm eps x 100 keeps all 61 ids.
//  * Row 0 (BOS alone: attention returns V, so only the f16 rounding of the
//    cache enters): measured 1.7e-7; tolerance 1e-5, the README's figure for
//    a correct F32 implementation. The attention RMSNorm eps x 100
//    (include/trix/runtime/layers.h) gives 1.1e-3 here.
//  * Rows 1..47: measured 6.5e-4. llama.cpp's f16-cache attention also rounds
//    Q and the softmax weights to f16 before its dots, which TriX does not
//    (it computes in f32 over the f16 cache), and that grows with position;
//    tolerance 2e-3, below the 4.8e-3 that eps x 100 gives. Tighten both
//    once TriX can round as llama.cpp's f16 attention does.
constexpr double kRow0Tolerance = 1e-5;
constexpr double kLaterRowsTolerance = 2e-3;

std::vector<std::vector<float>> decode_logits(const LoadedModel& m, size_t n_rows) {
  trix::ThreadPool pool(1);
  Decoder<RuntimeShape> dec(RuntimeShape::from(m.config), m.weights, pool, trix::KvType::F16);
  std::vector<std::vector<float>> rows;
  int32_t token = m.tokenizer.bos();
  for (size_t i = 0; i < n_rows; ++i) {
    const auto l = dec.decode(token);
    rows.emplace_back(l.begin(), l.end());
    token = kExpected[i];
  }
  return rows;
}

// |ours - llama.cpp| / max |llama.cpp| over row r.
double logit_error(const std::vector<float>& ours, const float* ref, size_t vocab) {
  double scale = 0.0, err = 0.0;
  for (size_t v = 0; v < vocab; ++v) scale = std::max(scale, std::fabs(double{ref[v]}));
  for (size_t v = 0; v < vocab; ++v) err = std::max(err, std::fabs(double{ours[v]} - ref[v]));
  return err / scale;
}

TEST_F(StoriesGguf, LogitsMatchLlamaCpp) {
  TRIX_REQUIRE_SHARED_FILE(ref_path, "models/stories260K/llamacpp_logits_bos.f32");
  TRIX_REQUIRE_SHARED_FILE(theirs_path, "models/stories260K/stories260K-llamacpp.gguf");
  constexpr size_t kRows = 48, kVocab = 512;
  std::vector<float> ref(kRows * kVocab);
  {
    std::ifstream in(ref_path, std::ios::binary);
    in.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * sizeof(float)));
    ASSERT_TRUE(in && in.peek() == EOF) << ref_path << ": expected exactly 48 x 512 float32";
  }
  for (size_t r = 0; r < kRows; ++r) {  // the README's argmax property: rows line up with the ids
    const auto row = ref.begin() + static_cast<std::ptrdiff_t>(r * kVocab);
    ASSERT_EQ(std::max_element(row, row + kVocab) - row, kExpected[r]) << "row " << r;
  }
  for (const fs::path& path : {fs::path(theirs_path), own_path()}) {
    const LoadedModel m = trix::load_model(path);
    ASSERT_EQ(m.config.vocab_size, static_cast<int64_t>(kVocab));
    const auto rows = decode_logits(m, kRows);
    const double row0 = logit_error(rows[0], ref.data(), kVocab);
    double later = 0.0;
    for (size_t r = 1; r < kRows; ++r) later = std::max(later, logit_error(rows[r], ref.data() + r * kVocab, kVocab));
    std::printf("%s: |logit - llama.cpp| / row max: row 0 %.3g (tolerance %.0e), rows 1..47 %.3g (tolerance %.0e)\n",
                path.filename().c_str(), row0, kRow0Tolerance, later, kLaterRowsTolerance);
    EXPECT_LE(row0, kRow0Tolerance) << path;
    EXPECT_LE(later, kLaterRowsTolerance) << path;
  }
}

TEST_F(StoriesGguf, Q8_0WeightsKeepTheFirst20Tokens) {
  const fs::path q8 = own_path().string() + ".q8_0.gguf";
  write_q8_0_copy(GgufReader::open(own_path()), q8);
  const LoadedModel m = trix::load_model(q8);
  fs::remove(q8);
  EXPECT_EQ(m.weights.layers[0].wq.format, FormatId::Q8_0);
  EXPECT_EQ(m.weights.token_embd.format, FormatId::Q8_0);
  EXPECT_EQ(m.weights.layers[0].w_down.format, FormatId::F32);  // 172-wide rows
  const auto got = greedy(m, 2, 61);
  ASSERT_GE(got.size(), 20u);
  EXPECT_EQ(std::vector<int32_t>(got.begin(), got.begin() + 20),
            std::vector<int32_t>(kExpected.begin(), kExpected.begin() + 20));
  EXPECT_EQ(greedy(m, 1, 61), got) << "Q8_0 path differs between thread counts";
  size_t same = 0;
  while (same < got.size() && got[same] == kExpected[same]) ++same;
  RecordProperty("q8_0_tokens_matching_f32", static_cast<int>(same));
}

// ------------------------------------------------------------ malformed files

std::string load_error(const std::string& bytes) {
  try {
    const auto span = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    (void)trix::load_model(GgufReader::from_memory(span, "bad.gguf"));
  } catch (const trix::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ModelLoaderTiny, GoodFileLoadsAndRuns) {
  const std::string bytes = trix::test::tiny_llama_gguf();
  const auto span = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const LoadedModel m = trix::load_model(GgufReader::from_memory(span, "tiny.gguf"));
  EXPECT_EQ(m.config.vocab_size, 8);
  EXPECT_EQ(m.config.n_kv_heads, 2);
  EXPECT_EQ(m.config.context_length, 16);
  const auto one = greedy(m, 1, 10);
  EXPECT_FALSE(one.empty());
  EXPECT_LE(one.size(), 10u);
  EXPECT_EQ(one, greedy(m, 2, 10));
}

// A gtest parameter name for a file kind of tiny_gguf.h ("offset-past-end"
// -> "offset_past_end").
std::string kind_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string n = info.param;
  for (char& c : n) c = c == '-' ? '_' : c;
  return n;
}

class ModelLoaderBad : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelLoaderBad, OneLineErrorNamingTheProblem) {
  const trix::test::BadGguf bad = trix::test::bad_gguf(GetParam());
  const std::string msg = load_error(bad.bytes);
  EXPECT_NE(msg.find(bad.expect), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("bad.gguf: ", 0), 0u) << msg;
}

INSTANTIATE_TEST_SUITE_P(Kinds, ModelLoaderBad, ::testing::ValuesIn(trix::test::kBadKinds),
                         kind_name);

TEST(ModelLoaderTiny, MissingTensorWrongShapeAndArchitecture) {
  using trix::test::tiny_llama_gguf;
  using trix::test::tiny_llama_gguf_with;
  EXPECT_NE(load_error(tiny_llama_gguf_with([](trix::test::TinyGgufOptions& o) { o.skip_tensor = "blk.0.ffn_up.weight"; }))
                .find("missing tensor 'blk.0.ffn_up.weight'"),
            std::string::npos);
  EXPECT_NE(load_error(tiny_llama_gguf_with([](trix::test::TinyGgufOptions& o) { o.ffn_key = 48; }))
                .find("tensor 'blk.0.ffn_gate.weight' has shape [32, 64], expected [32, 48]"),
            std::string::npos)
      << load_error(tiny_llama_gguf_with([](trix::test::TinyGgufOptions& o) { o.ffn_key = 48; }));
  EXPECT_NE(load_error(tiny_llama_gguf_with([](trix::test::TinyGgufOptions& o) { o.skip_key = "tokenizer.ggml.tokens"; }))
                .find("missing metadata key 'tokenizer.ggml.tokens'"),
            std::string::npos);
  EXPECT_NE(load_error(tiny_llama_gguf_with([](trix::test::TinyGgufOptions& o) { o.skip_key = "llama.attention.layer_norm_rms_epsilon"; }))
                .find("missing metadata key 'llama.attention.layer_norm_rms_epsilon'"),
            std::string::npos);
  std::string other = tiny_llama_gguf();
  const size_t at = other.find("llama", other.find("general.architecture"));
  other.replace(at, 5, "gpt-j");
  EXPECT_NE(load_error(other).find("'general.architecture' = \"gpt-j\": unsupported"),
            std::string::npos)
      << load_error(other);
}


// ------------------------------------------- garbage weights, run-sized memory

std::string generate_error(const std::string& bytes) {
  const auto span = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const LoadedModel m = trix::load_model(GgufReader::from_memory(span, "bad.gguf"));
  trix::ThreadPool pool(2);
  Decoder<RuntimeShape> dec(RuntimeShape::from(m.config), m.prepared, pool);
  trix::Sampler sampler(trix::SamplerConfig{});
  const int32_t bos = m.tokenizer.bos();
  trix::GenerateOptions opt;
  opt.max_new_tokens = 4;
  try {
    (void)trix::generate(dec, sampler, std::span<const int32_t>(&bos, 1), opt);
  } catch (const trix::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// NaN or 3e38 weights used to sample <unk> (id 0) forever with exit 0.
class GarbageWeights : public ::testing::TestWithParam<const char*> {};

TEST_P(GarbageWeights, GenerateStopsNamingTheStep) {
  const trix::test::BadGguf bad = trix::test::bad_gguf(GetParam());
  const std::string msg = generate_error(bad.bytes);
  EXPECT_NE(msg.find(bad.expect), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Kinds, GarbageWeights, ::testing::ValuesIn(trix::test::kGarbageWeightKinds),
                         kind_name);

TEST(GarbageWeights, LaterStepIsNamed) {
  std::vector<float> logits(10, 0.5f);
  EXPECT_NO_THROW(trix::check_logits_finite(logits, 3));
  logits[7] = -std::numeric_limits<float>::infinity();
  try {
    trix::check_logits_finite(logits, 3);
    FAIL() << "no error";
  } catch (const trix::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("generate: step 3: logits are not finite (-inf at token id 7)", 0), 0u)
        << e.what();
  }
}

// llama.context_length = 2^24 used to size the attention scratch per thread
// by it (64 MiB each); the KV cache and every per-run buffer now follow the
// run's context.
TEST(ModelLoaderTiny, HugeFileContextCostsOnlyTheRunContext) {
  const std::string bytes = trix::test::tiny_llama_gguf_with([](trix::test::TinyGgufOptions& o) {
    o.context_length = 1u << 24;
  });
  const auto span = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const LoadedModel m = trix::load_model(GgufReader::from_memory(span, "tiny.gguf"));
  ASSERT_EQ(m.config.context_length, 1 << 24);
  constexpr int64_t kRun = 6;
  for (size_t threads : {1u, 4u}) {
    trix::ThreadPool pool(threads);
    Decoder<RuntimeShape> dec(RuntimeShape::from(m.config), m.prepared, pool, trix::KvType::F32,
                              /*max_batch=*/64, kRun);
    EXPECT_EQ(dec.context_length(), kRun);
    // K and V: layers x run context x kv_dim floats each.
    EXPECT_EQ(dec.kv_bytes(), size_t{2} * 1 * kRun * 16 * sizeof(float));
    // Per token (batch clamped to the run context): x, xb, q, att, proj (32
    // each), k, v (16 each), gate, up (64 each), rope cos/sin (4 each); plus
    // scores (threads x run context) and logits (vocab 8).
    const size_t per_token = 5 * 32 + 2 * 16 + 2 * 64 + 2 * 4;
    EXPECT_EQ(dec.scratch_bytes(), (kRun * per_token + threads * kRun + 8) * sizeof(float));
    // And it still runs up to the end of that context.
    trix::Sampler sampler(trix::SamplerConfig{});
    const int32_t bos = m.tokenizer.bos();
    trix::GenerateOptions opt;
    opt.max_new_tokens = 100;
    const auto r = trix::generate(dec, sampler, std::span<const int32_t>(&bos, 1), opt);
    EXPECT_EQ(r.stop, trix::StopReason::ContextFull);
  }
}

}  // namespace
