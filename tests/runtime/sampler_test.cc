// Sampler: greedy, top-k = 1, seeds, top-p / min-p filtering on a hand-made
// distribution, temperature, repetition / presence / frequency penalties,
// log-probabilities.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "trix/runtime/sampler.h"

namespace {

std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

TEST(Sampler, GreedyIsArgmaxLowestIdOnTies) {
  trix::Sampler s(trix::SamplerConfig{});
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.sample(l), 1);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  trix::SamplerConfig c;
  c.temperature = 1.5f;
  c.top_k = 1;
  c.seed = 7;
  trix::Sampler s(c);
  std::mt19937 rng(1);
  std::normal_distribution<float> n(0, 3);
  for (int round = 0; round < 50; ++round) {
    std::vector<float> l(100);
    for (auto& v : l) v = n(rng);
    EXPECT_EQ(s.sample(l), trix::Sampler::argmax(l));
  }
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDiffers) {
  trix::SamplerConfig c;
  c.temperature = 1.0f;
  c.seed = 1234;
  const auto l = logits_of({0.2, 0.2, 0.2, 0.2, 0.2});
  auto run = [&](uint64_t seed) {
    c.seed = seed;
    trix::Sampler s(c);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      auto copy = l;
      out.push_back(s.sample(copy));
    }
    return out;
  };
  EXPECT_EQ(run(1234), run(1234));
  EXPECT_NE(run(1234), run(1235));
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingMass) {
  trix::SamplerConfig c;
  c.temperature = 1.0f;
  c.top_p = 0.75f;
  trix::Sampler s(c);
  auto l = logits_of({0.1, 0.5, 0.05, 0.3, 0.05});
  const auto d = s.distribution(l);
  ASSERT_EQ(d.size(), 2u);  // 0.5 + 0.3 >= 0.75
  EXPECT_EQ(d[0].id, 1);
  EXPECT_EQ(d[1].id, 3);
  EXPECT_NEAR(d[0].p, 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(d[1].p, 0.3 / 0.8, 1e-6);
}

TEST(Sampler, MinPDropsTokensBelowFractionOfMax) {
  trix::SamplerConfig c;
  c.temperature = 1.0f;
  c.min_p = 0.19f;  // floor = 0.095: keeps 0.5, 0.3, 0.1; drops 0.05
  trix::Sampler s(c);
  auto l = logits_of({0.1, 0.5, 0.05, 0.3, 0.05});
  const auto d = s.distribution(l);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].id, 1);
  EXPECT_EQ(d[1].id, 3);
  EXPECT_EQ(d[2].id, 0);
  EXPECT_NEAR(d[2].p, 0.1 / 0.9, 1e-6);
}

TEST(Sampler, TemperatureSharpensAndDrawFrequenciesFollowDistribution) {
  trix::SamplerConfig c;
  c.temperature = 0.5f;
  c.seed = 99;
  trix::Sampler s(c);
  auto l = logits_of({0.6, 0.3, 0.1});
  const auto d = s.distribution(l);
  // p^(1/T) renormalised: 0.36, 0.09, 0.01 over 0.46.
  EXPECT_NEAR(d[0].p, 0.36 / 0.46, 1e-6);
  EXPECT_NEAR(d[2].p, 0.01 / 0.46, 1e-6);
  std::vector<int> counts(3, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    auto copy = l;
    ++counts[static_cast<size_t>(s.sample(copy))];
  }
  EXPECT_NEAR(counts[0] / double(n), 0.36 / 0.46, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.09 / 0.46, 0.015);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  trix::SamplerConfig c;
  c.repetition_penalty = 2.0f;
  c.repetition_window = 2;
  trix::Sampler s(c);
  std::vector<float> l = {4.0f, 3.0f, -1.0f, 1.0f};
  const std::vector<int32_t> history = {1, 0, 2, 2};  // window: {2, 2}
  EXPECT_EQ(s.sample(l, history), 0);
  EXPECT_EQ(l[2], -2.0f);  // once, though it appears twice
  EXPECT_EQ(l[0], 4.0f);   // outside the window
  std::vector<float> l2 = {4.0f, 3.0f};
  c.repetition_window = 64;
  trix::Sampler s2(c);
  EXPECT_EQ(s2.sample(l2, std::vector<int32_t>{0}), 1);  // 4/2 < 3
}

TEST(Sampler, RejectsBadConfig) {
  trix::SamplerConfig c;
  c.top_p = 0.0f;
  EXPECT_THROW(trix::Sampler{c}, trix::Error);
  c = {};
  c.temperature = -1.0f;
  EXPECT_THROW(trix::Sampler{c}, trix::Error);
  c = {};
  c.min_p = 1.5f;
  EXPECT_THROW(trix::Sampler{c}, trix::Error);
  c = {};
  c.presence_penalty = 2.5f;
  EXPECT_THROW(trix::Sampler{c}, trix::Error);
  c = {};
  c.frequency_penalty = -2.01f;
  EXPECT_THROW(trix::Sampler{c}, trix::Error);
}

// OpenAI's rule: logit -= presence * (count > 0) + frequency * count, over
// the window; ids outside it untouched. Values chosen exact in float.
TEST(Sampler, PresenceAndFrequencyPenaltiesSubtractPerIdAndPerCount) {
  trix::SamplerConfig c;
  c.presence_penalty = 0.5f;
  c.frequency_penalty = 0.25f;
  c.repetition_window = 4;
  trix::Sampler s(c);
  std::vector<float> l = {4.0f, 3.0f, -1.0f, 1.0f};
  const std::vector<int32_t> history = {3, 0, 0, 0, 2};  // window: {0, 0, 0, 2}
  EXPECT_EQ(s.sample(l, history), 1);
  EXPECT_EQ(l[0], 4.0f - 0.5f - 0.75f);
  EXPECT_EQ(l[1], 3.0f);
  EXPECT_EQ(l[2], -1.0f - 0.5f - 0.25f);
  EXPECT_EQ(l[3], 1.0f);  // outside the window
  // Negative penalties encourage repeats.
  c.presence_penalty = -2.0f;
  c.frequency_penalty = 0.0f;
  trix::Sampler s2(c);
  std::vector<float> l2 = {1.0f, 2.0f};
  EXPECT_EQ(s2.sample(l2, std::vector<int32_t>{0}), 0);
}

// Log-probabilities of the unfiltered distribution at the temperature:
// checked against log(p) of a hand-made distribution (tolerance 1e-6), the
// top list sorted with ties on the lower id, and the draw unchanged by asking.
TEST(Sampler, LogprobsOfSampledAndTopIds) {
  const std::vector<double> p = {0.1, 0.4, 0.1, 0.25, 0.15};
  trix::SamplerConfig c;
  trix::Sampler greedy(c);
  std::vector<float> l = logits_of(p);
  trix::SampleLogprobs lp;
  EXPECT_EQ(greedy.sample(l, {}, 3, lp), 1);
  EXPECT_NEAR(lp.sampled, std::log(0.4), 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].id, 1);
  EXPECT_EQ(lp.top[1].id, 3);
  EXPECT_EQ(lp.top[2].id, 4);
  EXPECT_NEAR(lp.top[2].p, std::log(0.15), 1e-6);
  l = logits_of(p);
  greedy.sample(l, {}, 0, lp);
  EXPECT_TRUE(lp.top.empty());

  // Temperature 2: p_i ~ sqrt(p_i); a top_k filter does not change them.
  c.temperature = 2.0f;
  c.top_k = 2;
  c.seed = 11;
  trix::Sampler a(c), b(c);
  double z = 0.0;
  for (double q : p) z += std::sqrt(q);
  for (int round = 0; round < 20; ++round) {
    std::vector<float> la = logits_of(p), lb = logits_of(p);
    const int32_t id = a.sample(la, {}, 5, lp);
    EXPECT_EQ(id, b.sample(lb));
    EXPECT_NEAR(lp.sampled, std::log(std::sqrt(p[static_cast<size_t>(id)]) / z), 1e-6);
    ASSERT_EQ(lp.top.size(), 5u);
    EXPECT_EQ(lp.top[3].id, 0);  // 0.1 twice: the lower id first
    EXPECT_EQ(lp.top[4].id, 2);
  }
}

}  // namespace
