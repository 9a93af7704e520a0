// SequentialEngine: the serve::Engine that runs one request at a time on one
// Decoder (f16 KV) with one worker thread: the single-stream baseline the
// continuous-batching engine is measured against, and a complete engine on
// its own (priorities, n samples, cancel at any time, stop ids, logprobs,
// stats).
//
// Scheduling: the queue is ordered by priority (larger first), then by
// arrival. A request's n samples run one after another, each from a fresh
// prefill of the prompt; sample i uses the seed sampling.seed + i, so the
// samples differ and each is reproducible. The KV cache is counted in blocks
// of kKvBlock positions: the running sample holds ceil(pos / kKvBlock) of
// them, and none once it ends or is cancelled.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/kv_cache.h"
#include "trix/runtime/sampler.h"
#include "trix/serve/engine.h"

namespace trix::serve {

class SequentialEngine final : public Engine {
 public:
  static constexpr int64_t kKvBlock = 16;

  // `pool` runs the forward passes (only the worker thread uses it);
  // context_length sizes the KV cache (0: the model's, capped as Decoder does).
  SequentialEngine(const RuntimeShape& shape, std::shared_ptr<const PreparedModel> prepared,
                   ThreadPool& pool, int64_t context_length)
      : dec_(shape, std::move(prepared), pool, KvType::F16, /*max_batch=*/64, context_length),
        vocab_(shape.vocab_size),
        worker_([this] { loop(); }) {}

  ~SequentialEngine() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  SequentialEngine(const SequentialEngine&) = delete;
  SequentialEngine& operator=(const SequentialEngine&) = delete;

  RequestId submit(Request request, EventSink sink) override {
    validate(request);
    std::lock_guard lock(mu_);
    const RequestId id = next_id_++;
    auto job = std::make_shared<Job>();
    job->id = id;
    job->request = std::move(request);
    job->sink = std::move(sink);
    queue_.emplace(QueueKey{-job->request.priority, id}, job);
    ++stats_.requests_total;
    cv_.notify_all();
    return id;
  }

  void cancel(RequestId id) override {
    std::unique_lock lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (it->second->id != id) continue;
      // Never ran: no KV held. Its Cancelled events go out on the worker.
      cancelled_queued_.push_back(it->second);
      queue_.erase(it);
      cv_.notify_all();
      return;
    }
    if (!current_ || current_->id != id) return;
    current_->cancelled.store(true);
    // From the worker itself (a sink): the loop sees the flag when the sink
    // returns. From elsewhere: wait until the worker has let go of the KV.
    if (std::this_thread::get_id() == worker_.get_id()) return;
    const std::shared_ptr<Job> job = current_;
    done_cv_.wait(lock, [&] { return current_ != job; });
  }

  EngineStats stats() const override {
    std::lock_guard lock(mu_);
    EngineStats s = stats_;
    s.queued = static_cast<int64_t>(queue_.size());
    s.running = current_ && kv_used_ > 0 ? 1 : 0;
    s.kv_blocks_used = kv_used_;
    s.kv_blocks_total = (dec_.context_length() + kKvBlock - 1) / kKvBlock;
    return s;
  }

  int64_t context_length() const override { return dec_.context_length(); }
  int64_t vocab_size() const override { return vocab_; }

 private:
  struct Job {
    RequestId id = 0;
    Request request;
    EventSink sink;
    std::atomic<bool> cancelled{false};
    bool sink_gone = false;  // the sink returned false: call it no more
  };
  using QueueKey = std::pair<int64_t, RequestId>;  // (-priority, arrival)

  void validate(const Request& r) const {
    validate_request(r, vocab_, dec_.context_length(), "sequential engine");
    // 0 is allowed here: the request ends at once with Length.
    if (r.max_new_tokens < 0) throw Error("sequential engine: request.max_new_tokens must be >= 0");
  }

  // Calls the sink unless it has gone; false once it has (or does now).
  static bool deliver(Job& job, const TokenEvent& ev) {
    if (job.sink_gone) return false;
    bool keep = false;
    try {
      keep = job.sink(ev);
    } catch (...) {
      keep = false;  // a throwing sink is treated as a disconnected one
    }
    if (!keep) job.sink_gone = true;
    return keep;
  }

  static void finish_rest(Job& job, int32_t from, FinishReason why, const std::string& error = {}) {
    for (int32_t i = from; i < job.request.n; ++i) {
      TokenEvent ev;
      ev.id = job.id;
      ev.index = i;
      ev.finish = why;
      if (why == FinishReason::Error) ev.error = error;
      if (!deliver(job, ev)) return;
    }
  }

  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !cancelled_queued_.empty(); });
      flush_cancelled(lock);
      if (stop_) break;
      if (queue_.empty()) continue;
      current_ = queue_.begin()->second;
      queue_.erase(queue_.begin());
      lock.unlock();
      run(*current_);
      lock.lock();
      current_.reset();
      kv_used_ = 0;
      done_cv_.notify_all();
    }
    // Shutting down: whatever is still queued ends Cancelled.
    for (auto& [key, job] : queue_) cancelled_queued_.push_back(job);
    queue_.clear();
    flush_cancelled(lock);
  }

  // Sends the Cancelled events of requests cancelled while queued (unlocked,
  // so their sinks may call back into the engine).
  void flush_cancelled(std::unique_lock<std::mutex>& lock) {
    while (!cancelled_queued_.empty()) {
      std::vector<std::shared_ptr<Job>> jobs;
      jobs.swap(cancelled_queued_);
      lock.unlock();
      for (auto& job : jobs) finish_rest(*job, 0, FinishReason::Cancelled);
      lock.lock();
    }
  }

  // Between tokens: requests cancelled while queued hear of it now, not
  // after the running one.
  void flush_cancelled() {
    std::unique_lock lock(mu_);
    flush_cancelled(lock);
  }

  void set_kv(int64_t pos) {
    std::lock_guard lock(mu_);
    kv_used_ = (pos + kKvBlock - 1) / kKvBlock;
  }

  void count(uint64_t EngineStats::*field, uint64_t n) {
    std::lock_guard lock(mu_);
    stats_.*field += n;
  }

  void run(Job& job) {
    const Request& r = job.request;
    for (int32_t index = 0; index < r.n; ++index) {
      FinishReason why = FinishReason::None;
      try {
        why = run_sample(job, index);
      } catch (const std::exception& e) {
        set_kv(0);
        finish_rest(job, index, FinishReason::Error, e.what());
        return;
      }
      set_kv(0);
      if (job.sink_gone) return;
      if (why == FinishReason::Cancelled) {
        finish_rest(job, index, FinishReason::Cancelled);
        return;
      }
      TokenEvent ev;
      ev.id = job.id;
      ev.index = index;
      ev.finish = why;
      if (!deliver(job, ev)) return;
    }
  }

  // Runs sample `index` until it finishes and returns why; the caller sends
  // the final event (token -1). One event per generated token before it.
  FinishReason run_sample(Job& job, int32_t index) {
    const Request& r = job.request;
    if (job.cancelled.load()) return FinishReason::Cancelled;
    SamplerConfig sc = r.sampling;
    sc.seed += static_cast<uint64_t>(index);
    Sampler sampler(sc);
    std::vector<int32_t> history(r.prompt.begin(), r.prompt.end());
    dec_.reset();
    std::span<const float> logits = dec_.prefill(r.prompt);
    set_kv(dec_.pos());
    count(&EngineStats::prompt_tokens_total, r.prompt.size());
    std::vector<float> work(logits.size());
    SampleLogprobs lp;
    for (int64_t generated = 0;; ++generated) {
      flush_cancelled();
      if (job.cancelled.load()) return FinishReason::Cancelled;
      if (generated >= r.max_new_tokens) return FinishReason::Length;
      check_logits_finite(logits, generated);
      std::copy(logits.begin(), logits.end(), work.begin());
      int32_t next = 0;
      if (r.top_logprobs >= 0) {
        next = sampler.sample(work, history, r.top_logprobs, lp);
      } else {
        next = sampler.sample(work, history);
      }
      if (std::find(r.stop_ids.begin(), r.stop_ids.end(), next) != r.stop_ids.end()) {
        return FinishReason::Stop;
      }
      history.push_back(next);
      count(&EngineStats::generated_tokens_total, 1);
      TokenEvent ev;
      ev.id = job.id;
      ev.index = index;
      ev.token = next;
      if (r.top_logprobs >= 0) {
        ev.logprob = lp.sampled;
        for (const TokenProb& t : lp.top) ev.top.push_back({t.id, t.p});
      }
      if (!deliver(job, ev)) return FinishReason::Cancelled;
      if (generated + 1 >= r.max_new_tokens) return FinishReason::Length;
      if (dec_.pos() >= dec_.context_length()) return FinishReason::ContextFull;
      if (job.cancelled.load()) return FinishReason::Cancelled;
      logits = dec_.decode(next);
      set_kv(dec_.pos());
    }
  }

  Decoder<RuntimeShape> dec_;
  const int64_t vocab_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // work arrived, or stop
  std::condition_variable done_cv_;  // the running request ended
  std::map<QueueKey, std::shared_ptr<Job>> queue_;
  std::vector<std::shared_ptr<Job>> cancelled_queued_;
  std::shared_ptr<Job> current_;
  int64_t kv_used_ = 0;
  EngineStats stats_;
  RequestId next_id_ = 1;
  bool stop_ = false;

  std::thread worker_;  // last: starts once everything above is built
};

}  // namespace trix::serve
