// A 2-layer bitnet-b1.58 model with deterministic pseudo-random ternary
// weights, checked against an fp64 re-implementation of llama.cpp's
// LLM_ARCH_BITNET graph written independently here.
//
// - F32 weights holding {-1, 0, +1} * s: logits within 1e-4 * max|logit| of
//   the fp64 reference (runtime/bitnet_reference.h; float accumulation only).
// - TQ2_0 and I2_S weights holding exactly the same values: activations are
//   quantized to int8 (Q8_K blocks / per-token), so they are compared to the
//   F32 run within 3e-2 * max|logit|, and must be bit-identical across thread
//   counts and between prefill and decode.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "runtime/bitnet_reference.h"
#include "trix/core/thread_pool.h"
#include "trix/formats/i2_s.h"
#include "trix/formats/tq2_0.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/decoder.h"

namespace {

using trix::FormatId;
using trix::WeightView;

constexpr int64_t kDim = 256, kFfn = 512, kLayers = 2, kHeads = 4, kKvHeads = 2, kHeadDim = 64;
constexpr int64_t kVocab = 96, kContext = 32;
constexpr float kScale = 0.046875f;  // exact in f16, so TQ2_0 keeps it bit for bit

trix::ModelConfig small_config() {
  auto c = trix::ModelConfig::defaults_for(trix::Arch::BitnetB158);
  c.dim = kDim;
  c.ffn_hidden = kFfn;
  c.n_layers = kLayers;
  c.n_heads = kHeads;
  c.n_kv_heads = kKvHeads;
  c.head_dim = kHeadDim;
  c.vocab_size = kVocab;
  c.context_length = kContext;
  c.rms_eps = 1e-5f;
  c.tied_output = true;
  return c;
}

// xorshift64*: the weights depend only on the seed.
struct XorShift {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// Plain float matrices of the model: ternary * kScale for projections,
// around 1 for norms, small gaussian-ish for the embedding.
using FloatModel = trix::test::BitnetRefWeights;

FloatModel make_float_model(uint64_t seed) {
  XorShift rng{seed};
  const auto ternary = [&](int64_t rows, int64_t cols) {
    std::vector<float> m(static_cast<size_t>(rows * cols));
    for (auto& v : m) v = static_cast<float>(static_cast<int>(rng.next() % 3) - 1) * kScale;
    return m;
  };
  const auto norm = [&](int64_t n) {
    std::vector<float> m(static_cast<size_t>(n));
    for (auto& v : m) v = static_cast<float>(0.5 + rng.unit());
    return m;
  };
  FloatModel fm;
  fm.embd.resize(static_cast<size_t>(kVocab * kDim));
  for (auto& v : fm.embd) v = static_cast<float>(rng.unit() + rng.unit() - 1.0);
  fm.out_norm = norm(kDim);
  for (int64_t l = 0; l < kLayers; ++l) {
    FloatModel::Layer L;
    L.attn_norm = norm(kDim);
    L.wq = ternary(kHeads * kHeadDim, kDim);
    L.wk = ternary(kKvHeads * kHeadDim, kDim);
    L.wv = ternary(kKvHeads * kHeadDim, kDim);
    L.attn_sub_norm = norm(kHeads * kHeadDim);
    L.wo = ternary(kDim, kHeads * kHeadDim);
    L.ffn_norm = norm(kDim);
    L.gate = ternary(kFfn, kDim);
    L.up = ternary(kFfn, kDim);
    L.ffn_sub_norm = norm(kFfn);
    L.down = ternary(kDim, kFfn);
    fm.layers.push_back(std::move(L));
  }
  return fm;
}

// Views over a FloatModel with projections stored in `format` (F32, TQ2_0 or
// I2_S); owns the packed bytes.
struct PackedModel {
  std::vector<std::vector<uint8_t>> storage;
  trix::ModelWeights weights;

  WeightView pack(const std::vector<float>& m, int64_t rows, int64_t cols, FormatId f) {
    WeightView v{nullptr, f, rows, cols, 1.0f};
    if (f == FormatId::F32) {
      v.data = m.data();
      return v;
    }
    std::vector<uint8_t> bytes;
    if (f == FormatId::TQ2_0) {
      bytes.resize(static_cast<size_t>(v.row_bytes() * rows));
      for (int64_t r = 0; r < rows; ++r) {
        trix::quantize_row_tq2_0(m.data() + r * cols,
                                 reinterpret_cast<trix::BlockTQ2_0*>(bytes.data() + r * v.row_bytes()),
                                 static_cast<size_t>(cols));
      }
    } else {
      bytes.resize(trix::i2_s_nbytes(static_cast<size_t>(rows), static_cast<size_t>(cols)));
      trix::quantize_i2_s(m.data(), static_cast<size_t>(rows), static_cast<size_t>(cols), bytes.data());
      v.scale = trix::i2_s_scale(bytes.data(), static_cast<size_t>(rows), static_cast<size_t>(cols));
    }
    storage.push_back(std::move(bytes));
    v.data = storage.back().data();
    return v;
  }

  PackedModel(const FloatModel& fm, FormatId f) {
    storage.reserve(64);
    const auto vec = [](const std::vector<float>& m) {
      return WeightView{m.data(), FormatId::F32, 1, static_cast<int64_t>(m.size()), 1.0f};
    };
    weights.token_embd = WeightView{fm.embd.data(), FormatId::F32, kVocab, kDim, 1.0f};
    weights.output = weights.token_embd;
    weights.output_norm = vec(fm.out_norm);
    for (const auto& L : fm.layers) {
      trix::LayerWeights w;
      w.attn_norm = vec(L.attn_norm);
      w.wq = pack(L.wq, kHeads * kHeadDim, kDim, f);
      w.wk = pack(L.wk, kKvHeads * kHeadDim, kDim, f);
      w.wv = pack(L.wv, kKvHeads * kHeadDim, kDim, f);
      w.attn_sub_norm = vec(L.attn_sub_norm);
      w.wo = pack(L.wo, kDim, kHeads * kHeadDim, f);
      w.ffn_norm = vec(L.ffn_norm);
      w.w_gate = pack(L.gate, kFfn, kDim, f);
      w.w_up = pack(L.up, kFfn, kDim, f);
      w.ffn_sub_norm = vec(L.ffn_sub_norm);
      w.w_down = pack(L.down, kDim, kFfn, f);
      weights.layers.push_back(w);
    }
  }
};

using Vec = trix::test::RefVec;

trix::test::BitnetReference make_reference(const FloatModel& fm, double theta) {
  return trix::test::BitnetReference({kDim, kFfn, kLayers, kHeads, kKvHeads, kHeadDim, kVocab, theta, 1e-5},
                                     fm);
}

const std::vector<int32_t> kTokens = {1, 17, 42, 5, 95, 0, 63, 17, 8, 30};

using trix::test::ref_max_abs;

TEST(BitnetSmall, F32TernaryLogitsMatchFp64Reference) {
  const FloatModel fm = make_float_model(2024);
  const PackedModel pm(fm, FormatId::F32);
  const auto cfg = small_config();
  auto ref = make_reference(fm, cfg.rope_theta);
  trix::ThreadPool pool(2);
  trix::Decoder<trix::RuntimeShape> dec(trix::RuntimeShape::from(cfg), pm.weights, pool);
  for (int32_t t : kTokens) {
    const Vec want = ref.step(t);
    const auto got = dec.decode(t);
    const double tol = 1e-4 * ref_max_abs(want);
    for (int64_t i = 0; i < kVocab; ++i) {
      ASSERT_NEAR(got[static_cast<size_t>(i)], want[static_cast<size_t>(i)], tol)
          << "pos " << dec.pos() - 1 << " logit " << i;
    }
  }
}

class BitnetPacked : public ::testing::TestWithParam<FormatId> {};

TEST_P(BitnetPacked, CloseToF32AndDeterministic) {
  const FloatModel fm = make_float_model(7);
  const PackedModel f32(fm, FormatId::F32);
  const PackedModel packed(fm, GetParam());
  const auto shape = trix::RuntimeShape::from(small_config());

  trix::ThreadPool pool1(1), pool2(2);
  trix::Decoder<trix::RuntimeShape> exact(shape, f32.weights, pool2);
  trix::Decoder<trix::RuntimeShape> one(shape, packed.weights, pool1);
  trix::Decoder<trix::RuntimeShape> two(shape, packed.weights, pool2, trix::KvType::F32, 4);
  std::vector<float> last;
  for (int32_t t : kTokens) {
    const auto e = exact.decode(t);
    const std::vector<float> want(e.begin(), e.end());
    const auto a = one.decode(t);
    const std::vector<float> got(a.begin(), a.end());
    const auto b = two.decode(t);
    ASSERT_EQ(std::memcmp(got.data(), b.data(), got.size() * 4), 0) << "threads differ";
    double m = 0;
    for (float v : want) m = std::max(m, double{std::fabs(v)});
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 3e-2 * m) << "logit " << i;
    }
    last = got;
  }
  // Prefill in chunks of 4 (matmul over tokens) == token-by-token decode.
  trix::Decoder<trix::RuntimeShape> batched(shape, packed.weights, pool2, trix::KvType::F32, 4);
  const auto p = batched.prefill(kTokens);
  ASSERT_EQ(p.size(), last.size());
  EXPECT_EQ(std::memcmp(p.data(), last.data(), last.size() * 4), 0);
}

INSTANTIATE_TEST_SUITE_P(Ternary, BitnetPacked, ::testing::Values(FormatId::TQ2_0, FormatId::I2_S),
                         [](const auto& info) { return std::string(trix::format_name(info.param)); });

TEST(BitnetSmall, MissingSubNormIsRejected) {
  const FloatModel fm = make_float_model(1);
  PackedModel pm(fm, FormatId::F32);
  pm.weights.layers[1].ffn_sub_norm = WeightView{};
  trix::ThreadPool pool(1);
  try {
    trix::Decoder<trix::RuntimeShape> dec(trix::RuntimeShape::from(small_config()), pm.weights, pool);
    FAIL() << "expected trix::Error";
  } catch (const trix::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1 ffn_sub_norm"), std::string::npos) << e.what();
  }
}

}  // namespace
