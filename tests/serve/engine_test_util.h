// Helpers of the serving-engine tests: an event collector that checks the
// Engine contract (per (request, index): events in order, exactly one final
// event, none after it), and runs of requests alone or together.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "trix/serve/batch_engine.h"
#include "trix/serve/engine.h"

namespace trix::test {

// What one sample of a request produced.
struct SampleResult {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;          // one per event
  std::vector<serve::TokenLogprob> top;       // every event's alternatives, concatenated
  serve::FinishReason finish = serve::FinishReason::None;
  int finals = 0;
  int events_after_final = 0;
};

// Collects events of any number of requests (thread-safe).
class Collector {
 public:
  serve::EventSink sink() {
    return [this](const serve::TokenEvent& ev) {
      std::lock_guard lock(mu_);
      SampleResult& r = results_[{ev.id, ev.index}];
      if (r.finals > 0) ++r.events_after_final;
      if (ev.token >= 0) r.tokens.push_back(ev.token);
      r.logprobs.push_back(ev.logprob);
      r.top.insert(r.top.end(), ev.top.begin(), ev.top.end());
      if (ev.finish != serve::FinishReason::None) {
        ++r.finals;
        r.finish = ev.finish;
      }
      return true;
    };
  }
  SampleResult get(serve::RequestId id, int32_t index) {
    std::lock_guard lock(mu_);
    return results_[{id, index}];
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return results_.size();
  }

 private:
  std::mutex mu_;
  std::map<std::pair<serve::RequestId, int32_t>, SampleResult> results_;
};

// Bitwise equality of two samples' tokens, log-probabilities and alternatives.
inline void expect_same_sample(const SampleResult& a, const SampleResult& b, const std::string& what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.finish, b.finish) << what;
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size()) << what;
  for (size_t i = 0; i < a.logprobs.size(); ++i) {
    EXPECT_EQ(std::bit_cast<uint32_t>(a.logprobs[i]), std::bit_cast<uint32_t>(b.logprobs[i])) << what << " event " << i;
  }
  ASSERT_EQ(a.top.size(), b.top.size()) << what;
  for (size_t i = 0; i < a.top.size(); ++i) {
    EXPECT_EQ(a.top[i].id, b.top[i].id) << what;
    EXPECT_EQ(std::bit_cast<uint32_t>(a.top[i].logprob), std::bit_cast<uint32_t>(b.top[i].logprob)) << what;
  }
}

// Each request alone on a fresh engine: its samples.
template <class Shape>
std::vector<std::vector<SampleResult>> run_alone(const Shape& shape, std::shared_ptr<const PreparedModel> model,
                                                 size_t threads, serve::BatchEngineOptions opt,
                                                 const std::vector<serve::Request>& requests) {
  ThreadPool pool(threads);
  std::vector<std::vector<SampleResult>> out;
  for (const serve::Request& r : requests) {
    serve::BatchEngine<Shape> engine(shape, model, pool, opt);
    Collector c;
    const serve::RequestId id = engine.submit(r, c.sink());
    engine.wait_idle();
    out.emplace_back();
    for (int32_t i = 0; i < r.n; ++i) out.back().push_back(c.get(id, i));
  }
  return out;
}

// All requests on one engine, submitted `gap` apart: their samples.
template <class Shape>
std::vector<std::vector<SampleResult>> run_together(const Shape& shape, std::shared_ptr<const PreparedModel> model,
                                                    size_t threads, serve::BatchEngineOptions opt,
                                                    const std::vector<serve::Request>& requests,
                                                    std::chrono::microseconds gap, serve::EngineStats* stats = nullptr) {
  ThreadPool pool(threads);
  serve::BatchEngine<Shape> engine(shape, model, pool, opt);
  Collector c;
  std::vector<serve::RequestId> ids;
  for (const serve::Request& r : requests) {
    ids.push_back(engine.submit(r, c.sink()));
    std::this_thread::sleep_for(gap);
  }
  engine.wait_idle();
  if (stats) *stats = engine.stats();
  std::vector<std::vector<SampleResult>> out;
  for (size_t k = 0; k < requests.size(); ++k) {
    out.emplace_back();
    for (int32_t i = 0; i < requests[k].n; ++i) out.back().push_back(c.get(ids[k], i));
  }
  return out;
}

}  // namespace trix::test
