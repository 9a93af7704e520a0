// End to end on stories260K (llama2.c checkpoint): greedy generation from BOS
// must reproduce the 61 ids listed in ../shared/models/stories260K/README.md,
// for 1 and 2 threads, for prefill and decode, and for a compile-time shape.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <vector>

#include "common/shared_data.h"
#include "common/stories260k_expected.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/llama2c_checkpoint.h"
#include "trix/runtime/sampler.h"
#include "trix/models/stories260k.h"

namespace {

using trix::Decoder;
using trix::RuntimeShape;

const std::vector<int32_t>& kExpected = trix::test::kStories260kGreedyIds;

constexpr int32_t kBos = 1;
constexpr int32_t kEos = 2;

// The stories260K hyper-parameters as compile-time constants, as a model
// spec would emit them.
struct Stories260KShape {
  static constexpr trix::Arch arch = trix::Arch::Llama;
  static constexpr int64_t dim = 64;
  static constexpr int64_t ffn_hidden = 172;
  static constexpr int64_t n_layers = 5;
  static constexpr int64_t n_heads = 8;
  static constexpr int64_t n_kv_heads = 4;
  static constexpr int64_t head_dim = 8;
  static constexpr int64_t vocab_size = 512;
  static constexpr int64_t context_length = 512;
  static constexpr float rope_theta = 10000.0f;
  static constexpr trix::RopeStyle rope_style = trix::RopeStyle::Adjacent;
  static constexpr trix::FfnActivation ffn_activation = trix::FfnActivation::SiLU;
  static constexpr float rms_eps = 1e-5f;
};

template <class Shape>
std::vector<int32_t> greedy(const Shape& shape, const trix::ModelWeights& w, size_t threads,
                            int64_t n, trix::KvType kv = trix::KvType::F32) {
  trix::ThreadPool pool(threads);
  Decoder<Shape> dec(shape, w, pool, kv);
  trix::Sampler sampler(trix::SamplerConfig{});
  const int32_t bos = kBos;
  trix::GenerateOptions opt;
  opt.max_new_tokens = n;
  opt.eos_id = kEos;
  return trix::generate(dec, sampler, std::span<const int32_t>(&bos, 1), opt).tokens;
}

class Stories260K : public ::testing::Test {
 protected:
  void SetUp() override {
    TRIX_REQUIRE_SHARED_FILE(path, "models/stories260K/stories260K.bin");
    ck_ = std::make_unique<trix::Llama2cCheckpoint>(trix::Llama2cCheckpoint::load(path.string()));
  }
  std::unique_ptr<trix::Llama2cCheckpoint> ck_;
};

TEST_F(Stories260K, ConfigMatchesReadme) { trix::test::expect_stories260k_config(ck_->config()); }

TEST_F(Stories260K, GreedyFromBosMatchesReadmeOneThread) {
  const auto shape = RuntimeShape::from(ck_->config());
  EXPECT_EQ(greedy(shape, ck_->weights(), 1, 61), kExpected);
}

TEST_F(Stories260K, GreedyFromBosMatchesReadmeTwoThreads) {
  const auto shape = RuntimeShape::from(ck_->config());
  EXPECT_EQ(greedy(shape, ck_->weights(), 2, 61), kExpected);
}

TEST_F(Stories260K, GreedyWithF16KvCacheMatchesReadme) {
  // f16 keys/values round each element once; at this size the argmax is
  // unaffected for the whole README sequence.
  const auto shape = RuntimeShape::from(ck_->config());
  EXPECT_EQ(greedy(shape, ck_->weights(), 2, 61, trix::KvType::F16), kExpected);
}

TEST_F(Stories260K, LogitsBitIdenticalAcrossThreadCounts) {
  const auto shape = RuntimeShape::from(ck_->config());
  std::vector<int32_t> prompt = {kBos};
  prompt.insert(prompt.end(), kExpected.begin(), kExpected.begin() + 20);
  std::vector<float> ref;
  for (size_t threads : {1, 2, 3, 4}) {
    trix::ThreadPool pool(threads);
    Decoder<RuntimeShape> dec(shape, ck_->weights(), pool);
    auto logits = dec.prefill(prompt);
    std::vector<float> got(logits.begin(), logits.end());
    if (ref.empty()) {
      ref = got;
    } else {
      ASSERT_EQ(std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float)), 0)
          << "threads = " << threads;
    }
  }
}

TEST_F(Stories260K, PrefillEqualsTokenByTokenDecode) {
  // Batched projections compute each (row, token) product with the same code
  // as a single-token matvec, so chunked prefill and decode agree bit for bit.
  const auto shape = RuntimeShape::from(ck_->config());
  std::vector<int32_t> prompt = {kBos};
  prompt.insert(prompt.end(), kExpected.begin(), kExpected.begin() + 30);
  trix::ThreadPool pool(2);
  Decoder<RuntimeShape> batched(shape, ck_->weights(), pool, trix::KvType::F32, /*max_batch=*/8);
  auto a = batched.prefill(prompt);
  std::vector<float> la(a.begin(), a.end());
  Decoder<RuntimeShape> single(shape, ck_->weights(), pool, trix::KvType::F32, /*max_batch=*/1);
  std::span<const float> b;
  for (int32_t t : prompt) b = single.decode(t);
  ASSERT_EQ(la.size(), b.size());
  EXPECT_EQ(std::memcmp(la.data(), b.data(), la.size() * sizeof(float)), 0);
  EXPECT_EQ(batched.pos(), static_cast<int64_t>(prompt.size()));
}

TEST_F(Stories260K, CompileTimeShapeBitIdenticalToRuntimeShape) {
  const auto runtime = RuntimeShape::from(ck_->config());
  std::vector<int32_t> prompt = {kBos};
  prompt.insert(prompt.end(), kExpected.begin(), kExpected.begin() + 12);
  trix::ThreadPool pool(2);
  Decoder<RuntimeShape> rt(runtime, ck_->weights(), pool);
  Decoder<Stories260KShape> ct(Stories260KShape{}, ck_->weights(), pool);
  for (int32_t t : prompt) {
    auto a = rt.decode(t);
    auto b = ct.decode(t);
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  }
  EXPECT_EQ(greedy(Stories260KShape{}, ck_->weights(), 1, 61), kExpected);
}

TEST_F(Stories260K, GeneratedSpecShapeBitIdenticalToRuntimeShape) {
  // The struct trix-gen emits from specs/models/stories260k.yaml, adapted.
  using Spec = trix::SpecShape<trix::models::Stories260K>;
  static_assert(Spec::arch == trix::Arch::Llama && Spec::head_dim == 8 && Spec::ffn_hidden == 172);
  const auto runtime = RuntimeShape::from(ck_->config());
  std::vector<int32_t> prompt = {kBos};
  prompt.insert(prompt.end(), kExpected.begin(), kExpected.begin() + 12);
  trix::ThreadPool pool(2);
  Decoder<RuntimeShape> rt(runtime, ck_->weights(), pool);
  Decoder<Spec> ct(Spec{}, ck_->weights(), pool);
  auto a = rt.prefill(prompt);
  auto b = ct.prefill(prompt);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  EXPECT_EQ(greedy(Spec{}, ck_->weights(), 2, 61), kExpected);
}

TEST_F(Stories260K, RejectsBadTokensAndContextOverflow) {
  const auto shape = RuntimeShape::from(ck_->config());
  trix::ThreadPool pool(1);
  Decoder<RuntimeShape> dec(shape, ck_->weights(), pool, trix::KvType::F32, 16,
                            /*context_length=*/4);
  EXPECT_THROW(dec.decode(512), trix::Error);
  EXPECT_THROW(dec.decode(-1), trix::Error);
  EXPECT_EQ(dec.pos(), 0);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_THROW(dec.prefill(five), trix::Error);
  EXPECT_EQ(dec.pos(), 0);
  for (int i = 0; i < 4; ++i) dec.decode(kBos);
  EXPECT_THROW(dec.decode(kBos), trix::Error);
}

TEST_F(Stories260K, GenerateStopsOnCallbackAndContext) {
  const auto shape = RuntimeShape::from(ck_->config());
  trix::ThreadPool pool(1);
  trix::Sampler sampler(trix::SamplerConfig{});
  const int32_t bos = kBos;
  {
    Decoder<RuntimeShape> dec(shape, ck_->weights(), pool);
    std::vector<int32_t> streamed;
    trix::GenerateOptions opt;
    opt.max_new_tokens = 100;
    auto r = trix::generate(dec, sampler, std::span<const int32_t>(&bos, 1), opt, [&](int32_t id) {
      streamed.push_back(id);
      return streamed.size() < 5;
    });
    EXPECT_EQ(r.stop, trix::StopReason::Callback);
    EXPECT_EQ(streamed, std::vector<int32_t>(kExpected.begin(), kExpected.begin() + 5));
    EXPECT_EQ(r.tokens, streamed);
  }
  {
    Decoder<RuntimeShape> dec(shape, ck_->weights(), pool, trix::KvType::F32, 64, 10);
    trix::GenerateOptions opt;
    opt.max_new_tokens = 100;
    auto r = trix::generate(dec, sampler, std::span<const int32_t>(&bos, 1), opt);
    EXPECT_EQ(r.stop, trix::StopReason::ContextFull);
    EXPECT_EQ(r.tokens, std::vector<int32_t>(kExpected.begin(), kExpected.begin() + 10));
  }
}

TEST(Llama2cCheckpoint, RejectsTruncatedAndBadHeader) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto write = [&](const std::string& name, const std::vector<int32_t>& words) {
    const auto p = dir / name;
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(words.data()),
            static_cast<std::streamsize>(words.size() * 4));
    return p.string();
  };
  EXPECT_THROW(trix::Llama2cCheckpoint::load(write("trix_l2c_short.bin", {64, 172})), trix::Error);
  EXPECT_THROW(trix::Llama2cCheckpoint::load(write("trix_l2c_neg.bin", {64, -1, 5, 8, 4, 512, 512})),
               trix::Error);
  EXPECT_THROW(trix::Llama2cCheckpoint::load(write("trix_l2c_trunc.bin", {64, 172, 5, 8, 4, 512, 512, 0})),
               trix::Error);
  EXPECT_THROW(trix::Llama2cCheckpoint::load(write("trix_l2c_gqa.bin", {64, 172, 5, 8, 3, 512, 512})),
               trix::Error);
  EXPECT_THROW(trix::Llama2cCheckpoint::load((dir / "trix_l2c_missing.bin").string()), trix::Error);
}

}  // namespace
