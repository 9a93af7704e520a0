// KvCache: layout, f16 rounding, bounds errors.
#include <gtest/gtest.h>

#include <vector>

#include "common/expect_error.h"
#include "trix/core/fp16.h"
#include "trix/runtime/kv_cache.h"

namespace {

TEST(KvCache, StoresInLayerPositionHeadOrder) {
  trix::KvCache kv(2, 3, 4, 5);  // layers, kv heads, head_dim, context
  EXPECT_EQ(kv.kv_dim(), 12);
  std::vector<float> k(12), v(12);
  for (int i = 0; i < 12; ++i) {
    k[static_cast<size_t>(i)] = static_cast<float>(100 + i);
    v[static_cast<size_t>(i)] = static_cast<float>(-i);
  }
  kv.store(1, 3, k.data(), v.data());
  const float* keys = kv.keys<float>(1);
  const float* values = kv.values<float>(1);
  for (int64_t h = 0; h < 3; ++h) {
    for (int64_t i = 0; i < 4; ++i) {
      EXPECT_EQ(keys[3 * 12 + h * 4 + i], 100 + h * 4 + i);
      EXPECT_EQ(values[3 * 12 + h * 4 + i], -(h * 4 + i));
      EXPECT_EQ(kv.key_at(1, 3, h, i), 100 + h * 4 + i);
      EXPECT_EQ(kv.value_at(1, 3, h, i), -(h * 4 + i));
      EXPECT_EQ(kv.key_at(0, 3, h, i), 0.0f);  // other layer untouched
    }
  }
  EXPECT_EQ(kv.bytes(), 2u * 2 * 5 * 12 * 4);
}

TEST(KvCache, F16StorageRoundsOnceToNearestEven) {
  trix::KvCache kv(1, 1, 4, 2, trix::KvType::F16);
  const std::vector<float> k = {1.0f / 3.0f, 65504.0f, -1e-8f, 1.0009765625f};
  kv.store(0, 1, k.data(), k.data());
  for (int64_t i = 0; i < 4; ++i) {
    const float want = trix::fp16_to_fp32(trix::fp32_to_fp16(k[static_cast<size_t>(i)]));
    EXPECT_EQ(kv.key_at(0, 1, 0, i), want);
    EXPECT_EQ(kv.values<uint16_t>(0)[4 + i], trix::fp32_to_fp16(k[static_cast<size_t>(i)]));
  }
  EXPECT_THROW(kv.keys<float>(0), trix::Error);
  EXPECT_EQ(kv.bytes(), 2u * 2 * 4 * 2);
}

TEST(KvCache, BoundsAreChecked) {
  trix::KvCache kv(2, 1, 2, 3);
  const float x[2] = {1, 2};
  EXPECT_NO_THROW(kv.store(1, 2, x, x));
  EXPECT_THROW(kv.store(0, 3, x, x), trix::Error);
  EXPECT_THROW(kv.store(0, -1, x, x), trix::Error);
  EXPECT_THROW(kv.store(2, 0, x, x), trix::Error);
  EXPECT_THROW(kv.key_at(0, 0, 1, 0), trix::Error);
  EXPECT_THROW(kv.value_at(0, 0, 0, 2), trix::Error);
  EXPECT_THROW(kv.keys<uint16_t>(0), trix::Error);
  EXPECT_THROW(trix::KvCache(1, 1, 2, 0), trix::Error);
  EXPECT_TRUE(trix::test::throws_error([&] { kv.store(0, 3, x, x); }, {"context_length = 3"}));
}

}  // namespace
