// SequentialEngine against the serve::Engine contract on stories260K: the
// tokens equal generate()'s on a Decoder with f16 KV (greedy and seeded, n
// samples with seeds seed + i), stop ids, length and context limits, the
// priority order of the queue, cancel (queued, running from another thread,
// from inside a sink), a sink returning false, log-probabilities, validation
// and the stats counters.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/shared_data.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/loader.h"
#include "trix/serve/sequential_engine.h"

namespace {

using trix::serve::FinishReason;
using trix::serve::Request;
using trix::serve::RequestId;
using trix::serve::SequentialEngine;
using trix::serve::TokenEvent;

constexpr int64_t kCtx = 128;

// Collects a request's events; wait() returns once every index finished.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<TokenEvent> events;
  int finished = 0;
  int n = 1;

  explicit Collector(int n_samples = 1) : n(n_samples) {}

  trix::serve::EventSink sink() {
    return [this](const TokenEvent& ev) {
      std::lock_guard lock(mu);
      events.push_back(ev);
      if (ev.finish != FinishReason::None) ++finished;
      cv.notify_all();
      return true;
    };
  }
  void wait() {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished == n; }))
        << finished << " of " << n << " samples finished, " << events.size() << " events";
  }
  std::vector<int32_t> tokens(int32_t index) {
    std::lock_guard lock(mu);
    std::vector<int32_t> out;
    for (const auto& ev : events) {
      if (ev.index == index && ev.token >= 0) out.push_back(ev.token);
    }
    return out;
  }
  FinishReason finish(int32_t index) {
    std::lock_guard lock(mu);
    for (const auto& ev : events) {
      if (ev.index == index && ev.finish != FinishReason::None) return ev.finish;
    }
    return FinishReason::None;
  }
};

class SequentialEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TRIX_REQUIRE_SHARED_FILE(path, "models/stories260K/stories260K-llamacpp.gguf");
    model_ = std::make_unique<trix::LoadedModel>(trix::load_model(path));
    shape_ = trix::RuntimeShape::from(model_->config);
    engine_ = std::make_unique<SequentialEngine>(shape_, model_->prepared, pool_, kCtx);
  }

  // What generate() on its own f16 decoder gives for the same settings.
  std::vector<int32_t> reference(const Request& r, uint64_t seed_offset = 0) {
    trix::Decoder<trix::RuntimeShape> dec(shape_, model_->prepared, pool_, trix::KvType::F16, 64,
                                          kCtx);
    trix::SamplerConfig sc = r.sampling;
    sc.seed += seed_offset;
    trix::Sampler s(sc);
    trix::GenerateOptions opt;
    opt.max_new_tokens = r.max_new_tokens;
    opt.stop_ids = r.stop_ids;
    return trix::generate(dec, s, r.prompt, opt).tokens;
  }

  Request story(int64_t n_tokens) {
    Request r;
    r.prompt = model_->tokenizer.encode("Once upon a time", true);
    r.max_new_tokens = n_tokens;
    return r;
  }

  trix::ThreadPool pool_{1};
  std::unique_ptr<trix::LoadedModel> model_;
  trix::RuntimeShape shape_;
  std::unique_ptr<SequentialEngine> engine_;
};

TEST_F(SequentialEngineTest, GreedyEqualsGenerateAndEndsWithLength) {
  const Request r = story(40);
  Collector c;
  const RequestId id = engine_->submit(r, c.sink());
  c.wait();
  EXPECT_EQ(c.tokens(0), reference(r));
  EXPECT_EQ(c.tokens(0).size(), 40u);
  EXPECT_EQ(c.finish(0), FinishReason::Length);
  for (const auto& ev : c.events) {
    EXPECT_EQ(ev.id, id);
    EXPECT_TRUE(ev.top.empty());
  }
  EXPECT_EQ(c.events.back().token, -1);
  const auto s = engine_->stats();
  EXPECT_EQ(s.requests_total, 1u);
  EXPECT_EQ(s.prompt_tokens_total, r.prompt.size());
  EXPECT_EQ(s.generated_tokens_total, 40u);
  EXPECT_EQ(s.queued, 0);
  EXPECT_EQ(s.running, 0);
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_EQ(s.kv_blocks_total, kCtx / SequentialEngine::kKvBlock);
  EXPECT_EQ(engine_->context_length(), kCtx);
  EXPECT_EQ(engine_->vocab_size(), 512);
}

TEST_F(SequentialEngineTest, NSeededSamplesUseSeedPlusIndex) {
  Request r = story(30);
  r.sampling.temperature = 1.0f;
  r.sampling.top_p = 0.9f;
  r.sampling.presence_penalty = 0.5f;
  r.sampling.frequency_penalty = 0.25f;
  r.sampling.seed = 1234;
  r.n = 3;
  Collector c(3);
  engine_->submit(r, c.sink());
  c.wait();
  for (int32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.tokens(i), reference(r, static_cast<uint64_t>(i))) << "sample " << i;
    EXPECT_EQ(c.finish(i), FinishReason::Length);
  }
  EXPECT_NE(c.tokens(0), c.tokens(1));
  // In order: all of sample 0, then 1, then 2.
  int32_t last = 0;
  for (const auto& ev : c.events) {
    EXPECT_GE(ev.index, last);
    last = ev.index;
  }
  EXPECT_EQ(engine_->stats().prompt_tokens_total, 3 * r.prompt.size());
}

TEST_F(SequentialEngineTest, StopIdEndsTheSampleWithoutEmittingIt) {
  Request r = story(40);
  const std::vector<int32_t> greedy = reference(r);
  r.stop_ids = {greedy[5]};
  Collector c;
  engine_->submit(r, c.sink());
  c.wait();
  const auto first = std::find(greedy.begin(), greedy.end(), greedy[5]);
  EXPECT_EQ(c.tokens(0), std::vector<int32_t>(greedy.begin(), first));
  EXPECT_EQ(c.finish(0), FinishReason::Stop);
}

TEST_F(SequentialEngineTest, ContextFullAndZeroTokens) {
  Request r = story(1000);
  Collector c;
  engine_->submit(r, c.sink());
  c.wait();
  EXPECT_EQ(c.finish(0), FinishReason::ContextFull);
  // Positions 0..kCtx-1 hold prompt + fed tokens; the last sampled one is not fed.
  EXPECT_EQ(static_cast<int64_t>(c.tokens(0).size()), kCtx - static_cast<int64_t>(r.prompt.size()) + 1);

  r.max_new_tokens = 0;
  Collector z;
  engine_->submit(r, z.sink());
  z.wait();
  EXPECT_TRUE(z.tokens(0).empty());
  EXPECT_EQ(z.finish(0), FinishReason::Length);
}

TEST_F(SequentialEngineTest, ValidationThrowsAndQueuesNothing) {
  Collector c;
  Request r = story(4);
  r.prompt.clear();
  EXPECT_THROW(engine_->submit(r, c.sink()), trix::Error);
  r = story(4);
  r.prompt.push_back(512);
  EXPECT_THROW(engine_->submit(r, c.sink()), trix::Error);
  r = story(4);
  r.prompt.assign(kCtx, 1);
  EXPECT_THROW(engine_->submit(r, c.sink()), trix::Error);
  r.prompt.assign(kCtx - 1, 1);
  r.max_new_tokens = 1;
  Collector ok;
  EXPECT_NO_THROW(engine_->submit(r, ok.sink()));
  ok.wait();
  r = story(4);
  r.n = 0;
  EXPECT_THROW(engine_->submit(r, c.sink()), trix::Error);
  r = story(4);
  r.top_logprobs = 21;
  EXPECT_THROW(engine_->submit(r, c.sink()), trix::Error);
  r = story(4);
  r.sampling.top_p = 0.0f;
  EXPECT_THROW(engine_->submit(r, c.sink()), trix::Error);
  EXPECT_EQ(engine_->stats().requests_total, 1u);
  EXPECT_TRUE(c.events.empty());
}

TEST_F(SequentialEngineTest, LogprobsCarryTheSampledTokenAndTopAlternatives) {
  Request r = story(10);
  r.top_logprobs = 3;
  Collector c;
  engine_->submit(r, c.sink());
  c.wait();
  int tokens = 0;
  for (const auto& ev : c.events) {
    if (ev.token < 0) continue;
    ++tokens;
    ASSERT_EQ(ev.top.size(), 3u);
    EXPECT_EQ(ev.top[0].id, ev.token);  // greedy
    EXPECT_EQ(ev.top[0].logprob, ev.logprob);
    EXPECT_LE(ev.logprob, 0.0f);
    EXPECT_GE(ev.top[0].logprob, ev.top[1].logprob);
    EXPECT_GE(ev.top[1].logprob, ev.top[2].logprob);
  }
  EXPECT_EQ(tokens, 10);
  r.top_logprobs = 0;
  Collector z;
  engine_->submit(r, z.sink());
  z.wait();
  for (const auto& ev : z.events) {
    if (ev.token >= 0) {
      EXPECT_TRUE(ev.top.empty());
      EXPECT_LT(ev.logprob, 0.0f);
    }
  }
}

// A first request blocks the worker inside its sink while three more queue
// up; they then run highest priority first, arrival order within one.
TEST_F(SequentialEngineTest, QueueRunsByPriorityThenArrival) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> blocking{true};
  Collector first;
  engine_->submit(story(3), [&](const TokenEvent& ev) {
    if (blocking.exchange(false)) released.wait();
    return first.sink()(ev);
  });
  while (blocking.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::unique_ptr<Collector>> cs;
  const int priorities[] = {0, 5, 0, 5, -1};
  for (int i = 0; i < 5; ++i) {
    Request r = story(2);
    r.priority = priorities[i];
    cs.push_back(std::make_unique<Collector>());
    Collector* c = cs.back().get();
    engine_->submit(r, [&, i, c](const TokenEvent& ev) {
      if (ev.finish != FinishReason::None) {
        std::lock_guard lock(mu);
        order.push_back(i);
      }
      return c->sink()(ev);
    });
  }
  EXPECT_EQ(engine_->stats().queued, 5);
  EXPECT_EQ(engine_->stats().running, 1);
  EXPECT_GT(engine_->stats().kv_blocks_used, 0);
  release.set_value();
  for (auto& c : cs) c->wait();
  EXPECT_EQ(order, (std::vector<int>{1, 3, 0, 2, 4}));
}

TEST_F(SequentialEngineTest, CancelQueuedRunningAndFromASink) {
  // Running, cancelled from this thread: KV freed when cancel returns, and
  // every index gets exactly one Cancelled event.
  Request r = story(100000);
  r.prompt.resize(4);
  r.n = 2;
  r.sampling.temperature = 0.8f;
  std::atomic<int> seen{0};
  Collector c(2);
  const RequestId running = engine_->submit(r, [&](const TokenEvent& ev) {
    ++seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // time to cancel in sample 0
    return c.sink()(ev);
  });
  // Queued behind it.
  Collector q;
  const RequestId queued = engine_->submit(story(5), q.sink());
  Request rq = story(5);
  rq.n = 2;
  Collector q2(2);
  const RequestId queued2 = engine_->submit(rq, q2.sink());
  (void)queued;
  while (seen.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  engine_->cancel(queued2);
  q2.wait();
  EXPECT_EQ(q2.finish(0), FinishReason::Cancelled);
  EXPECT_EQ(q2.finish(1), FinishReason::Cancelled);
  EXPECT_TRUE(q2.tokens(0).empty());
  engine_->cancel(running);
  c.wait();
  EXPECT_EQ(c.finish(0), FinishReason::Cancelled);
  EXPECT_EQ(c.finish(1), FinishReason::Cancelled);
  q.wait();
  EXPECT_EQ(q.finish(0), FinishReason::Length);
  engine_->cancel(running);  // finished: ignored
  engine_->cancel(999999);   // unknown: ignored

  // From inside the sink, after 3 tokens: the request ends Cancelled there.
  Collector s3(1);
  std::atomic<RequestId> self{0};
  std::atomic<int> calls{0};
  Request rs = story(50);
  std::promise<void> submitted;
  std::shared_future<void> sub = submitted.get_future().share();
  self = engine_->submit(rs, [&](const TokenEvent& ev) {
    sub.wait();
    if (++calls == 3) engine_->cancel(self.load());
    return s3.sink()(ev);
  });
  submitted.set_value();
  s3.wait();
  EXPECT_EQ(s3.tokens(0).size(), 3u);
  EXPECT_EQ(s3.finish(0), FinishReason::Cancelled);
}

// Cancelling a running request from another thread frees its KV blocks
// before cancel() returns (nothing else queued, so the count must be 0).
TEST_F(SequentialEngineTest, CancelFreesKvBeforeReturning) {
  Request r = story(100000);
  r.prompt.resize(2);
  r.sampling.temperature = 1.0f;
  std::atomic<int> seen{0};
  Collector c;
  const RequestId id = engine_->submit(r, [&](const TokenEvent& ev) {
    ++seen;
    return c.sink()(ev);
  });
  while (seen.load() < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GT(engine_->stats().kv_blocks_used, 0);
  engine_->cancel(id);
  const auto s = engine_->stats();
  EXPECT_EQ(s.kv_blocks_used, 0);
  EXPECT_EQ(s.running, 0);
  c.wait();
  EXPECT_EQ(c.finish(0), FinishReason::Cancelled);
}

TEST_F(SequentialEngineTest, SinkReturningFalseIsNotCalledAgain) {
  Request r = story(50);
  r.n = 3;
  std::atomic<int> calls{0};
  Collector after;
  engine_->submit(r, [&](const TokenEvent&) { return ++calls < 4; });
  engine_->submit(story(2), after.sink());
  after.wait();
  EXPECT_EQ(calls.load(), 4);
  EXPECT_EQ(engine_->stats().kv_blocks_used, 0);
}

}  // namespace
