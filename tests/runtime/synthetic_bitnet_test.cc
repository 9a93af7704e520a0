// The synthetic BitNet-b1.58 model (trix/convert/synthetic_bitnet.h, the
// trix-make-synthetic-bitnet tool) written to GGUF and read back through the
// loader:
//  * full size: the exact 2B-4T tensor names, shapes and byte count (about
//    771 MiB for TQ2_0 with a Q6_K embedding, as DESIGN.md's llama.cpp file);
//  * 2-layer variant: the loaded config is bitnet-b1.58's; every packed
//    weight dequantizes to exactly the generator's values; the F32 file's
//    logits match the fp64 reference (runtime/bitnet_reference.h) within
//    1e-4 * max|logit| (float accumulation only); TQ2_0 / TQ1_0 / I2_S files
//    (int8 activations) are within 5e-2 * max|logit| of the F32 file and
//    bit-identical across thread counts and between prefill and decode.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "runtime/bitnet_reference.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/loader.h"
#include "trix/convert/synthetic_bitnet.h"

namespace {

namespace fs = std::filesystem;
using trix::FormatId;
using trix::SyntheticBitnetOptions;

const std::vector<int32_t> kTokens = {318, 17, 42, 5, 300, 0, 63, 17, 8, 30};  // 318 = BOS

fs::path write_small(FormatId f) {
  const fs::path p = fs::temp_directory_path() /
                     ("trix_synth_" + std::string(trix::format_name(f)) + "_" +
                      std::to_string(::getpid()) + ".gguf");
  trix::ThreadPool pool(2);
  trix::write_synthetic_bitnet(SyntheticBitnetOptions::small(f), p, pool);
  return p;
}

// The model as the generator defines it (the reference's weights).
trix::test::BitnetRefWeights generator_weights(const SyntheticBitnetOptions& o) {
  trix::test::BitnetRefWeights w;
  const auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    std::vector<float> m(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r) trix::synthetic_row(o, name, r, cols, m.data() + r * cols);
    return m;
  };
  const int64_t q = o.n_heads * o.head_dim(), kv = o.n_kv_heads * o.head_dim();
  w.embd = matrix("token_embd.weight", o.vocab_size, o.dim);
  w.out_norm = matrix("output_norm.weight", 1, o.dim);
  for (int64_t l = 0; l < o.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    trix::test::BitnetRefWeights::Layer L;
    L.attn_norm = matrix(p + "attn_norm.weight", 1, o.dim);
    L.wq = matrix(p + "attn_q.weight", q, o.dim);
    L.wk = matrix(p + "attn_k.weight", kv, o.dim);
    L.wv = matrix(p + "attn_v.weight", kv, o.dim);
    L.attn_sub_norm = matrix(p + "attn_sub_norm.weight", 1, q);
    L.wo = matrix(p + "attn_output.weight", o.dim, q);
    L.ffn_norm = matrix(p + "ffn_norm.weight", 1, o.dim);
    L.gate = matrix(p + "ffn_gate.weight", o.ffn_hidden, o.dim);
    L.up = matrix(p + "ffn_up.weight", o.ffn_hidden, o.dim);
    L.ffn_sub_norm = matrix(p + "ffn_sub_norm.weight", 1, o.ffn_hidden);
    L.down = matrix(p + "ffn_down.weight", o.dim, o.ffn_hidden);
    w.layers.push_back(std::move(L));
  }
  return w;
}

std::vector<std::vector<float>> decode_all(const trix::LoadedModel& m, size_t threads,
                                           int64_t max_batch = 64) {
  trix::ThreadPool pool(threads);
  trix::Decoder<trix::RuntimeShape> dec(trix::RuntimeShape::from(m.config), m.prepared, pool,
                                        trix::KvType::F32, max_batch);
  std::vector<std::vector<float>> out;
  for (int32_t t : kTokens) {
    auto l = dec.decode(t);
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

TEST(SyntheticBitnet, FullSizeTensorsAreThe2B4TLayout) {
  const SyntheticBitnetOptions o;  // defaults: the 2B-4T shape, TQ2_0
  o.validate();
  const auto t = trix::synthetic_tensors(o);
  ASSERT_EQ(t.size(), 1u + 30u * 11u + 1u);
  EXPECT_EQ(t[0].name, "token_embd.weight");
  EXPECT_EQ(t[0].rows, 128256);
  EXPECT_EQ(t[0].cols, 2560);
  EXPECT_EQ(t[0].format, FormatId::Q6_K);
  const auto find = [&](const std::string& name) {
    for (const auto& x : t) {
      if (x.name == name) return x;
    }
    ADD_FAILURE() << name << " missing";
    return t[0];
  };
  EXPECT_EQ(find("blk.29.attn_q.weight").rows, 2560);
  EXPECT_EQ(find("blk.29.attn_k.weight").rows, 640);
  EXPECT_EQ(find("blk.29.attn_v.weight").rows, 640);
  EXPECT_EQ(find("blk.29.attn_output.weight").cols, 2560);
  EXPECT_EQ(find("blk.29.ffn_gate.weight").rows, 6912);
  EXPECT_EQ(find("blk.29.ffn_up.weight").rows, 6912);
  EXPECT_EQ(find("blk.29.ffn_down.weight").cols, 6912);
  EXPECT_EQ(find("blk.29.attn_sub_norm.weight").cols, 2560);
  EXPECT_EQ(find("blk.29.ffn_sub_norm.weight").cols, 6912);
  EXPECT_EQ(find("blk.0.ffn_down.weight").format, FormatId::TQ2_0);
  EXPECT_EQ(t.back().name, "output_norm.weight");
  uint64_t bytes = 0;
  for (const auto& x : t) {
    bytes += trix::format_nbytes(trix::format_info(x.format), static_cast<uint64_t>(x.rows * x.cols));
  }
  const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  EXPECT_GT(mib, 765.0);
  EXPECT_LT(mib, 772.0);
  const auto v = trix::synthetic_vocab(o.vocab_size);
  EXPECT_EQ(v.bos, 128000);
  EXPECT_EQ(v.eos, 128001);
  EXPECT_EQ(v.tokens[128000], "<|begin_of_text|>");
}

class SyntheticSmall : public ::testing::TestWithParam<FormatId> {};

TEST_P(SyntheticSmall, LoadsAsBitnetWithTheGeneratorsValues) {
  const FormatId f = GetParam();
  const fs::path path = write_small(f);
  const trix::LoadedModel m = trix::load_model(path);
  fs::remove(path);
  const SyntheticBitnetOptions o = SyntheticBitnetOptions::small(f);
  const trix::ModelConfig& c = m.config;
  EXPECT_EQ(c.arch, trix::Arch::BitnetB158);
  EXPECT_EQ(c.rope_style, trix::RopeStyle::NeoxHalves);
  EXPECT_EQ(c.ffn_activation, trix::FfnActivation::ReluSquared);
  EXPECT_TRUE(c.tied_output);
  EXPECT_EQ(c.dim, o.dim);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.vocab_size, 320);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(m.tokenizer.bos(), 318);
  EXPECT_EQ(m.tokenizer.eos(), 319);
  EXPECT_EQ(m.tokenizer.decode(m.tokenizer.encode("hi there", false)), "hi there");

  // Every row of every projection dequantizes to the generator's values.
  const auto check = [&](const trix::WeightView& w, const std::string& name) {
    EXPECT_EQ(w.format, f) << name;
    std::vector<float> got(static_cast<size_t>(w.cols)), want(got.size());
    for (int64_t r = 0; r < w.rows; ++r) {
      trix::embedding_row(w, r, got.data());
      trix::synthetic_row(o, name, r, w.cols, want.data());
      ASSERT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << name << " row " << r;
    }
  };
  check(m.weights.layers[1].wq, "blk.1.attn_q.weight");
  check(m.weights.layers[1].wk, "blk.1.attn_k.weight");
  check(m.weights.layers[0].wo, "blk.0.attn_output.weight");
  check(m.weights.layers[0].w_down, "blk.0.ffn_down.weight");
  EXPECT_EQ(m.weights.token_embd.format, f == FormatId::F32 ? FormatId::F32 : FormatId::Q6_K);
  std::vector<float> got(static_cast<size_t>(o.dim)), want(got.size());
  for (int64_t r : {int64_t{0}, o.vocab_size - 1}) {
    trix::embedding_row(m.weights.token_embd, r, got.data());
    trix::synthetic_row(o, "token_embd.weight", r, o.dim, want.data());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << "token_embd row " << r;
  }
}

TEST(SyntheticSmallF32, LogitsMatchFp64Reference) {
  const fs::path path = write_small(FormatId::F32);
  const trix::LoadedModel m = trix::load_model(path);
  fs::remove(path);
  const SyntheticBitnetOptions o = SyntheticBitnetOptions::small(FormatId::F32);
  const auto weights = generator_weights(o);
  trix::test::BitnetReference ref({o.dim, o.ffn_hidden, o.n_layers, o.n_heads, o.n_kv_heads,
                                   o.head_dim(), o.vocab_size, o.rope_theta, o.rms_eps},
                                  weights);
  const auto got = decode_all(m, 2);
  for (size_t t = 0; t < kTokens.size(); ++t) {
    const auto want = ref.step(kTokens[t]);
    const double tol = 1e-4 * trix::test::ref_max_abs(want);
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(got[t][i], want[i], tol) << "pos " << t << " logit " << i;
    }
  }
}

class SyntheticSmallTernary : public ::testing::TestWithParam<FormatId> {};

TEST_P(SyntheticSmallTernary, CloseToF32AndDeterministic) {
  const fs::path fp = write_small(FormatId::F32), tp = write_small(GetParam());
  const trix::LoadedModel f32 = trix::load_model(fp);
  const trix::LoadedModel packed = trix::load_model(tp);
  fs::remove(fp);
  fs::remove(tp);
  const auto want = decode_all(f32, 2);
  const auto one = decode_all(packed, 1);
  const auto two = decode_all(packed, 2, /*max_batch=*/4);
  double worst = 0;
  for (size_t t = 0; t < kTokens.size(); ++t) {
    ASSERT_EQ(std::memcmp(one[t].data(), two[t].data(), one[t].size() * 4), 0) << "threads differ";
    double mx = 0;
    for (float v : want[t]) mx = std::max(mx, double{std::fabs(v)});
    for (size_t i = 0; i < want[t].size(); ++i) {
      worst = std::max(worst, std::fabs(one[t][i] - want[t][i]) / mx);
    }
  }
  RecordProperty("max_error_rel_to_max_logit", std::to_string(worst));
  // int8 activations in every projection, including the Q6_K x Q8_K output
  // projection (the F32 file multiplies in float): measured 3.3-3.4%.
  EXPECT_LT(worst, 5e-2);
  trix::ThreadPool pool(2);
  trix::Decoder<trix::RuntimeShape> batched(trix::RuntimeShape::from(packed.config), packed.prepared,
                                            pool, trix::KvType::F32, 4);
  const auto p = batched.prefill(kTokens);
  EXPECT_EQ(std::memcmp(p.data(), one.back().data(), one.back().size() * 4), 0)
      << "prefill differs from decode";
}

const auto kName = [](const auto& info) { return std::string(trix::format_name(info.param)); };
INSTANTIATE_TEST_SUITE_P(Formats, SyntheticSmall,
                         ::testing::Values(FormatId::TQ2_0, FormatId::TQ1_0, FormatId::I2_S,
                                           FormatId::F32),
                         kName);
INSTANTIATE_TEST_SUITE_P(Formats, SyntheticSmallTernary,
                         ::testing::Values(FormatId::TQ2_0, FormatId::TQ1_0, FormatId::I2_S), kName);

TEST(SyntheticBitnet, RejectsBadOptions) {
  SyntheticBitnetOptions o = SyntheticBitnetOptions::small(FormatId::Q8_0);
  EXPECT_THROW(o.validate(), trix::Error);
  o = SyntheticBitnetOptions::small(FormatId::TQ2_0);
  o.dim = 200;
  EXPECT_THROW(o.validate(), trix::Error);
  o = SyntheticBitnetOptions::small(FormatId::TQ2_0);
  o.arch = "llama";
  EXPECT_THROW(o.validate(), trix::Error);
}

}  // namespace
