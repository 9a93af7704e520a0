// BatchEngine (trix/serve/batch_engine.h) on stories260K and on the
// synthetic BitNet (TQ2_0):
//  * greedy from BOS reproduces the README's ids (paged f16 KV);
//  * batch invariance: forward_paged gives a sequence's logits bit for bit
//    whatever else shares its steps and however its prompt is chunked, at 1
//    and 2 threads; through the engine, each request's tokens and
//    log-probabilities (with 5 alternatives) are the same bits alone and
//    among others, at 1 and 2 threads;
//  * a tiny pool with random arrivals, priorities, n = 2 and cancellations:
//    every index gets exactly one final event, nothing after it, preemption
//    happens, and every request not cancelled produces what it does alone;
//  * n > 1 forks: sample i is the n = 1 request with seed + i;
//  * the prefix cache skips a repeated prompt's full blocks;
//  * cancel frees the KV at once and sends one Cancelled event per index; a
//    sink returning false is never called again;
//  * submit's validation errors.
#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include <unistd.h>

#include "common/shared_data.h"
#include "common/stories260k_expected.h"
#include "serve/engine_test_util.h"
#include "trix/convert/synthetic_bitnet.h"
#include "trix/runtime/llama2c_checkpoint.h"
#include "trix/runtime/loader.h"
#include "trix/serve/batch_engine.h"
#include "trix/serve/paged_attention.h"

namespace {

namespace fs = std::filesystem;
using trix::RuntimeShape;
using trix::serve::BatchEngine;
using trix::serve::BatchEngineOptions;
using trix::serve::FinishReason;
using trix::serve::Request;
using trix::test::SampleResult;

constexpr int32_t kBos = 1;
constexpr int32_t kEos = 2;

// Random prompts: BOS then ids in [3, vocab).
std::vector<int32_t> random_prompt(std::mt19937& rng, int64_t len, int64_t vocab) {
  std::vector<int32_t> p = {kBos};
  std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(vocab - 1));
  while (static_cast<int64_t>(p.size()) < len) p.push_back(id(rng));
  return p;
}

// Logits of `prompt`'s last token from forward_paged: alone in one pass, or
// in chunks of `chunk` with `others`' tokens (each its own sequence, one
// chunk per pass) around it.
template <class Shape>
std::vector<float> paged_logits(const Shape& s, const trix::PreparedModel& w, size_t threads,
                                const std::vector<int32_t>& prompt, int64_t chunk,
                                const std::vector<std::vector<int32_t>>& others) {
  trix::ThreadPool pool(threads);
  trix::serve::KvBlockPool kv(s.n_layers, s.n_kv_heads, s.head_dim, {8, 256});
  trix::ForwardBuffers b(s, 128, pool.num_threads(), 128);
  std::vector<trix::serve::BlockTable> tables(others.size() + 1);
  std::vector<float> logits(static_cast<size_t>(s.vocab_size) * (others.size() + 1));
  std::vector<float> result;
  const auto n = static_cast<int64_t>(prompt.size());
  for (int64_t at = 0; at < n; at += chunk) {
    trix::serve::PagedBatch batch;
    batch.kv = &kv;
    std::vector<int32_t> tokens, rows;
    const auto add = [&](size_t seq, const std::vector<int32_t>& ids, int64_t from, int64_t to) {
      trix::serve::BlockTable& t = tables[seq];
      EXPECT_TRUE(trix::serve::reserve_blocks(kv, t, to));
      for (int64_t p = from; p < to; ++p) {
        tokens.push_back(ids[static_cast<size_t>(p)]);
        batch.pos.push_back(p);
        batch.table.push_back(t.blocks.data());
      }
      t.n_tokens = to;
    };
    const int64_t step = at / chunk;
    // Others first and after: their chunks move the prompt's rows around.
    for (size_t o = 0; o < others.size(); ++o) {
      const auto len = static_cast<int64_t>(others[o].size());
      const int64_t from = std::min(len, step * 3), to = std::min(len, step * 3 + 3);
      if (o % 2 == 0 && from < to) add(o + 1, others[o], from, to);
    }
    add(0, prompt, at, std::min(n, at + chunk));
    if (at + chunk >= n) rows.push_back(static_cast<int32_t>(tokens.size() - 1));
    for (size_t o = 0; o < others.size(); ++o) {
      const auto len = static_cast<int64_t>(others[o].size());
      const int64_t from = std::min(len, step * 3), to = std::min(len, step * 3 + 3);
      if (o % 2 == 1 && from < to) {
        add(o + 1, others[o], from, to);
        rows.push_back(static_cast<int32_t>(tokens.size() - 1));
      }
    }
    trix::serve::forward_paged(s, w, tokens, batch, rows, logits.data(), b, pool);
    if (at + chunk >= n) result.assign(logits.begin(), logits.begin() + s.vocab_size);
  }
  return result;
}

template <class Shape>
void expect_paged_logits_batch_invariant(const Shape& s, const trix::PreparedModel& w, int64_t vocab) {
  std::mt19937 rng(7);
  const auto prompt = random_prompt(rng, 37, vocab);
  const std::vector<std::vector<int32_t>> others = {random_prompt(rng, 20, vocab), random_prompt(rng, 9, vocab),
                                                    random_prompt(rng, 41, vocab)};
  const auto ref = paged_logits(s, w, 1, prompt, 37, {});
  for (size_t threads : {1, 2}) {
    for (int64_t chunk : {1, 5, 37}) {
      const auto got = paged_logits(s, w, threads, prompt, chunk, others);
      ASSERT_EQ(got.size(), ref.size());
      EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0)
          << threads << " threads, chunk " << chunk;
    }
  }
}

// Requests of every kind for the invariance and stress tests.
std::vector<Request> mixed_requests(int64_t vocab, int count, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<Request> out;
  for (int i = 0; i < count; ++i) {
    Request r;
    r.prompt = random_prompt(rng, 1 + static_cast<int64_t>(rng() % 40), vocab);
    r.max_new_tokens = 1 + static_cast<int64_t>(rng() % 40);
    r.priority = static_cast<int32_t>(rng() % 3);
    r.top_logprobs = 5;
    r.stop_ids = {kEos};
    r.n = (i % 4 == 3) ? 2 : 1;
    if (i % 3 == 1) {
      r.sampling.temperature = 0.8f;
      r.sampling.top_k = 40;
      r.sampling.seed = 1000 + static_cast<uint64_t>(i);
    }
    out.push_back(r);
  }
  return out;
}

class Stories : public ::testing::Test {
 protected:
  void SetUp() override {
    TRIX_REQUIRE_SHARED_FILE(path, "models/stories260K/stories260K.bin");
    ck_ = std::make_unique<trix::Llama2cCheckpoint>(trix::Llama2cCheckpoint::load(path.string()));
    shape_ = RuntimeShape::from(ck_->config());
    model_ = trix::prepare_model(ck_->weights());
  }
  std::unique_ptr<trix::Llama2cCheckpoint> ck_;
  RuntimeShape shape_;
  std::shared_ptr<const trix::PreparedModel> model_;
};

TEST_F(Stories, GreedyFromBosMatchesReadme) {
  trix::ThreadPool pool(2);
  BatchEngine<RuntimeShape> engine(shape_, model_, pool);
  trix::test::Collector c;
  Request r;
  r.prompt = {kBos};
  r.max_new_tokens = 61;
  r.stop_ids = {kEos};
  const auto id = engine.submit(r, c.sink());
  engine.wait_idle();
  const SampleResult got = c.get(id, 0);
  EXPECT_EQ(got.tokens, trix::test::kStories260kGreedyIds);
  EXPECT_EQ(got.finish, FinishReason::Length);
  EXPECT_EQ(got.finals, 1);
  const auto st = engine.stats();
  EXPECT_EQ(st.generated_tokens_total, 61u);
  EXPECT_EQ(st.prompt_tokens_total, 1u);
  EXPECT_EQ(st.kv_blocks_used, 0);
  EXPECT_EQ(st.running, 0);
}

TEST_F(Stories, PagedLogitsBatchInvariant) {
  expect_paged_logits_batch_invariant(shape_, *model_, shape_.vocab_size);
}

TEST_F(Stories, RequestsAloneAndTogetherGiveTheSameBits) {
  const auto requests = mixed_requests(shape_.vocab_size, 10, 1);
  BatchEngineOptions opt;
  opt.context_length = 128;
  opt.max_batch_tokens = 24;
  const auto alone = trix::test::run_alone(shape_, model_, 1, opt, requests);
  for (size_t threads : {1, 2}) {
    const auto together = trix::test::run_together(shape_, model_, threads, opt, requests,
                                                   std::chrono::microseconds(300));
    for (size_t k = 0; k < requests.size(); ++k) {
      for (size_t i = 0; i < alone[k].size(); ++i) {
        EXPECT_EQ(together[k][i].finals, 1);
        trix::test::expect_same_sample(alone[k][i], together[k][i],
                                       "request " + std::to_string(k) + " sample " + std::to_string(i) + ", " +
                                           std::to_string(threads) + " threads");
      }
    }
  }
}

TEST_F(Stories, TinyPoolRandomArrivalsAndCancellations) {
  const auto requests = mixed_requests(shape_.vocab_size, 24, 2);
  BatchEngineOptions opt;
  opt.context_length = 96;
  opt.block_size = 8;
  opt.kv_tokens = 96;  // one full sequence: preemption is routine
  opt.max_batch_tokens = 16;
  opt.max_running = 6;
  const auto alone = trix::test::run_alone(shape_, model_, 2, opt, requests);

  trix::ThreadPool pool(2);
  auto engine = std::make_unique<BatchEngine<RuntimeShape>>(shape_, model_, pool, opt);
  trix::test::Collector c;
  std::mt19937 rng(3);
  std::vector<trix::serve::RequestId> ids;
  std::vector<bool> cancelled(requests.size(), false);
  for (size_t k = 0; k < requests.size(); ++k) {
    ids.push_back(engine->submit(requests[k], c.sink()));
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    if (k >= 2 && rng() % 4 == 0) {  // cancel an earlier one, queued, running or finished
      const size_t victim = k - 1 - rng() % 2;
      engine->cancel(ids[victim]);
      cancelled[victim] = true;
    }
  }
  engine->wait_idle();
  const auto st = engine->stats();
  EXPECT_GT(st.preemptions_total, 0u);
  EXPECT_EQ(st.kv_blocks_used, 0);
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.queued, 0);
  EXPECT_EQ(st.requests_total, requests.size());
  for (size_t k = 0; k < requests.size(); ++k) {
    for (int32_t i = 0; i < requests[k].n; ++i) {
      const SampleResult got = c.get(ids[k], i);
      EXPECT_EQ(got.finals, 1) << "request " << k << " sample " << i;
      EXPECT_EQ(got.events_after_final, 0) << "request " << k;
      if (!cancelled[k]) {
        trix::test::expect_same_sample(alone[k][static_cast<size_t>(i)], got, "request " + std::to_string(k));
      } else if (got.finish != FinishReason::Cancelled) {
        // It finished before the cancel came: then it is complete.
        trix::test::expect_same_sample(alone[k][static_cast<size_t>(i)], got, "request " + std::to_string(k));
      }
    }
  }
  engine.reset();
}

TEST_F(Stories, SamplesOfOneRequestAreTheSeedsPlusIndex) {
  Request r;
  r.prompt = {kBos, 400, 300, 200};
  r.max_new_tokens = 30;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 42;
  r.top_logprobs = 0;
  r.n = 3;
  std::vector<Request> singles;
  for (int i = 0; i < 3; ++i) {
    Request s = r;
    s.n = 1;
    s.sampling.seed = 42 + static_cast<uint64_t>(i);
    singles.push_back(s);
  }
  BatchEngineOptions opt;
  opt.block_size = 3;  // the prompt's last block is partial: forks copy it on write
  const auto forked = trix::test::run_alone(shape_, model_, 2, opt, {r});
  const auto single = trix::test::run_alone(shape_, model_, 2, opt, singles);
  ASSERT_EQ(forked[0].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    trix::test::expect_same_sample(single[i][0], forked[0][i], "sample " + std::to_string(i));
  }
  EXPECT_NE(forked[0][0].tokens, forked[0][1].tokens);
}

TEST_F(Stories, PrefixCacheSkipsARepeatedPromptsFullBlocks) {
  std::mt19937 rng(5);
  Request r;
  r.prompt = random_prompt(rng, 40, shape_.vocab_size);
  r.max_new_tokens = 5;
  r.top_logprobs = 3;
  trix::ThreadPool pool(2);
  BatchEngine<RuntimeShape> engine(shape_, model_, pool);  // block_size 16
  trix::test::Collector c;
  const auto a = engine.submit(r, c.sink());
  engine.wait_idle();
  EXPECT_EQ(engine.stats().prompt_tokens_total, 40u);
  const auto b = engine.submit(r, c.sink());
  engine.wait_idle();
  EXPECT_EQ(engine.stats().prompt_tokens_total, 40u + 8u);  // 32 positions from the cache
  trix::test::expect_same_sample(c.get(a, 0), c.get(b, 0), "cached prefix");
}

TEST_F(Stories, CancelFreesKvAtOnceAndSendsOneCancelledEvent) {
  trix::ThreadPool pool(1);
  BatchEngineOptions opt;
  opt.prefix_cache = false;
  BatchEngine<RuntimeShape> engine(shape_, model_, pool, opt);
  trix::test::Collector c;
  std::mutex mu;
  std::condition_variable cv;
  int seen = 0;
  auto inner = c.sink();
  Request r;
  r.prompt = {kBos};
  r.max_new_tokens = 400;
  r.n = 2;
  const auto id = engine.submit(r, [&](const trix::serve::TokenEvent& ev) {
    const bool ok = inner(ev);
    std::lock_guard lock(mu);
    ++seen;
    cv.notify_all();
    return ok;
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return seen >= 4; });
  }
  engine.cancel(id);
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
  engine.cancel(id);     // finished: ignored
  engine.cancel(12345);  // unknown: ignored
  engine.wait_idle();
  for (int32_t i = 0; i < 2; ++i) {
    const SampleResult got = c.get(id, i);
    EXPECT_EQ(got.finals, 1);
    EXPECT_EQ(got.finish, FinishReason::Cancelled);
    EXPECT_EQ(got.events_after_final, 0);
    EXPECT_LT(got.tokens.size(), 400u);
  }
}

TEST_F(Stories, SinkReturningFalseIsNotCalledAgain) {
  trix::ThreadPool pool(1);
  BatchEngine<RuntimeShape> engine(shape_, model_, pool);
  int calls = 0;
  Request r;
  r.prompt = {kBos};
  r.max_new_tokens = 50;
  engine.submit(r, [&](const trix::serve::TokenEvent&) { return ++calls < 3; });
  trix::test::Collector c;
  const auto other = engine.submit(r, c.sink());
  engine.wait_idle();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(c.get(other, 0).tokens.size(), 50u);
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
}

TEST_F(Stories, SubmitRejectsBadRequests) {
  trix::ThreadPool pool(1);
  BatchEngineOptions opt;
  opt.context_length = 32;
  BatchEngine<RuntimeShape> engine(shape_, model_, pool, opt);
  trix::test::Collector c;
  const auto bad = [&](auto change) {
    Request r;
    r.prompt = {kBos, 5};
    change(r);
    EXPECT_THROW(engine.submit(r, c.sink()), trix::Error);
  };
  bad([](Request& r) { r.prompt.clear(); });
  bad([](Request& r) { r.prompt[1] = 512; });
  bad([](Request& r) { r.prompt[1] = -1; });
  bad([](Request& r) { r.prompt.assign(32, 5); });
  bad([](Request& r) { r.n = 0; });
  bad([](Request& r) { r.top_logprobs = 21; });
  bad([](Request& r) { r.sampling.top_p = 0.0f; });
  bad([](Request& r) { r.max_new_tokens = 0; });
  EXPECT_EQ(engine.stats().requests_total, 0u);
  Request ok;
  ok.prompt.assign(31, 5);  // room for one token: ContextFull after it
  ok.max_new_tokens = 10;
  const auto id = engine.submit(ok, c.sink());
  engine.wait_idle();
  EXPECT_EQ(c.get(id, 0).finish, FinishReason::ContextFull);
  EXPECT_EQ(c.get(id, 0).tokens.size(), 1u);
  EXPECT_THROW(BatchEngine<RuntimeShape>(shape_, model_, pool, BatchEngineOptions{0, 16, 100, 64, 16, true}),
               trix::Error);  // 100 positions cannot hold one 512-token sequence
}

class SyntheticBitnet : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto o = trix::SyntheticBitnetOptions::small(trix::FormatId::TQ2_0);
    o.context_length = 256;
    path_ = fs::temp_directory_path() / ("trix_engine_bitnet_" + std::to_string(::getpid()) + ".gguf");
    trix::ThreadPool pool(2);
    trix::write_synthetic_bitnet(o, path_, pool);
    model_ = std::make_unique<trix::LoadedModel>(trix::load_model(path_));
  }
  static void TearDownTestSuite() {
    model_.reset();
    fs::remove(path_);
  }
  static inline fs::path path_;
  static inline std::unique_ptr<trix::LoadedModel> model_;
};

TEST_F(SyntheticBitnet, PagedLogitsBatchInvariant) {
  const auto shape = RuntimeShape::from(model_->config);
  expect_paged_logits_batch_invariant(shape, *model_->prepared, shape.vocab_size);
}

TEST_F(SyntheticBitnet, RequestsAloneAndTogetherGiveTheSameBits) {
  const auto shape = RuntimeShape::from(model_->config);
  auto requests = mixed_requests(shape.vocab_size, 8, 4);
  for (Request& r : requests) r.stop_ids.clear();
  BatchEngineOptions opt;
  opt.block_size = 8;
  opt.max_batch_tokens = 32;
  const auto alone = trix::test::run_alone(shape, model_->prepared, 1, opt, requests);
  for (size_t threads : {1, 2}) {
    const auto together =
        trix::test::run_together(shape, model_->prepared, threads, opt, requests, std::chrono::microseconds(500));
    for (size_t k = 0; k < requests.size(); ++k) {
      for (size_t i = 0; i < alone[k].size(); ++i) {
        EXPECT_EQ(alone[k][i].tokens.size(), static_cast<size_t>(requests[k].max_new_tokens));
        trix::test::expect_same_sample(alone[k][i], together[k][i],
                                       "request " + std::to_string(k) + ", " + std::to_string(threads) + " threads");
      }
    }
  }
}

}  // namespace
