// BatchEngine: the continuous-batching implementation of trix::serve::Engine
// (trix/serve/engine.h) over one prepared model and a paged KV cache
// (trix/serve/paged_kv.h).
//
// Its own thread runs steps. A step takes, in priority order (larger
// Request::priority first, then arrival, then sample index), the pending
// tokens of every sequence that holds KV memory (one per decoding sequence,
// a chunk of the prompt for one still prefilling), then starts waiting
// sequences while the step's token budget (max_batch_tokens) and
// max_running allow, and runs all of them as ONE forward pass
// (forward_paged: every projection one matmul over the step's tokens).
// Sequences whose last pending token ran sample their next token.
//
// Pending tokens are whatever of a sequence's ids have no KV yet, so prefill,
// decode and recompute are one mechanism: a sequence preempted when the
// pool runs out of blocks (the lowest in priority order that is not yet in
// the step) drops its KV and later runs its prompt and generated ids again,
// reusing its full blocks from the prefix cache when they are still there.
// n > 1 samples share the prompt's blocks (a fork after the prompt ran,
// copy-on-write); sample i draws with seed sampling.seed + i.
//
// Every step works per token (projections, norms, RoPE, attention per
// (token, kv head) over paged f16 KV), so a request's logits and tokens are
// the same bits whether it ran alone or with others, at any thread count,
// and whether it was preempted or not.
//
// Locking: one (recursive) mutex guards the state; the engine thread drops
// it during the forward pass, so submit() and cancel() never wait for more
// than scheduling or sampling. A cancel during the forward pass frees the
// blocks at once (the pass may still write into them: the data stays in
// the pool and no block is handed out before the pass ends). Sinks run on
// the engine thread with the mutex held, so they may call submit/cancel.
#pragma once

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/layers.h"
#include "trix/runtime/sampler.h"
#include "trix/serve/engine.h"
#include "trix/serve/paged_attention.h"
#include "trix/serve/paged_kv.h"

namespace trix::serve {

struct BatchEngineOptions {
  int64_t context_length = 0;     // per sequence; 0: the shape's
  int64_t block_size = 16;        // KV positions per block
  int64_t kv_tokens = 0;          // KV pool capacity in positions; 0: max_running full contexts
  int64_t max_batch_tokens = 64;  // tokens per step (decode + prefill chunks)
  int64_t max_running = 16;       // sequences holding KV at once
  bool prefix_cache = true;
};

template <class Shape = RuntimeShape>
class BatchEngine final : public Engine {
 public:
  // Validates `model` against `shape` (throws trix::Error) and starts the
  // engine thread. `pool` runs the forward passes and must outlive the
  // engine; the engine is its only user while it runs.
  BatchEngine(const Shape& shape, std::shared_ptr<const PreparedModel> model, ThreadPool& pool,
              BatchEngineOptions opt = {})
      : shape_(shape),
        model_(std::move(model)),
        pool_(pool),
        opt_(checked(shape, opt)),
        kv_(shape.n_layers, shape.n_kv_heads, shape.head_dim,
            {opt_.block_size, (opt_.kv_tokens + opt_.block_size - 1) / opt_.block_size}),
        buffers_(shape, opt_.max_batch_tokens, pool.num_threads(), opt_.max_batch_tokens) {
    if (!model_) throw Error("batch engine: no prepared model given");
    validate_model(shape_, model_->views);
    publish_stats();
    thread_ = std::thread([this] { run(); });
  }

  BatchEngine(const BatchEngine&) = delete;
  BatchEngine& operator=(const BatchEngine&) = delete;

  // Stops the thread; every unfinished index gets a final Cancelled event.
  ~BatchEngine() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    thread_.join();
  }

  RequestId submit(Request request, EventSink sink) override {
    validate_request(request, shape_.vocab_size, opt_.context_length, "batch engine");
    if (request.max_new_tokens < 1) throw Error("batch engine: request.max_new_tokens must be >= 1");
    if (!sink) throw Error("batch engine: no event sink given");
    std::lock_guard lock(mu_);
    auto req = std::make_shared<Req>();
    req->id = next_id_++;
    req->arrival = req->id;
    req->sink = std::move(sink);
    req->finished.assign(static_cast<size_t>(request.n), false);
    req->r = std::move(request);
    requests_.push_back(req);
    auto seq = std::make_shared<Seq>(req, 0, Sampler(req->r.sampling));
    seq->tokens = req->r.prompt;
    seqs_.push_back(std::move(seq));
    ++requests_total_;
    publish_stats();
    work_cv_.notify_all();
    return req->id;
  }

  void cancel(RequestId id) override {
    std::lock_guard lock(mu_);
    for (const auto& req : requests_) {
      if (req->id == id && !req->done) {
        cancel_request(*req, /*notify=*/true);
        publish_stats();
        work_cv_.notify_all();
        return;
      }
    }
  }

  EngineStats stats() const override {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }
  int64_t context_length() const override { return opt_.context_length; }
  int64_t vocab_size() const override { return shape_.vocab_size; }
  const BatchEngineOptions& options() const { return opt_; }

  // Blocks until every request submitted so far has finished (all its final
  // events delivered). Not from inside a sink (the engine thread would wait
  // for itself).
  void wait_idle() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return requests_.empty() && finals_.empty(); });
  }

 private:
  struct Req {
    RequestId id = 0;
    uint64_t arrival = 0;
    Request r;
    EventSink sink;
    std::vector<bool> finished;  // per index: its final event was sent (or queued)
    bool done = false;           // cancelled or every index finished
    bool sink_dead = false;      // the sink returned false: never call it again
    bool forked = false;         // the n - 1 further samples exist
    bool started = false;        // had a forward pass
  };

  struct Seq {
    Seq(std::shared_ptr<Req> r, int32_t i, Sampler s) : req(std::move(r)), index(i), sampler(std::move(s)) {}
    std::shared_ptr<Req> req;
    int32_t index;
    Sampler sampler;
    std::vector<int32_t> tokens;  // prompt + generated; KV holds the first kv.n_tokens
    int64_t n_generated = 0;
    BlockTable kv;
    bool has_kv = false;
    bool done = false;
  };

  // One sequence's share of a step.
  struct Slot {
    std::shared_ptr<Seq> seq;
    int64_t take = 0;
    bool logits = false;
  };

  static BatchEngineOptions checked(const Shape& s, BatchEngineOptions o) {
    if (o.context_length <= 0 || o.context_length > s.context_length) o.context_length = s.context_length;
    if (o.block_size <= 0) throw Error("batch engine: block_size must be > 0");
    if (o.max_batch_tokens <= 0) throw Error("batch engine: max_batch_tokens must be > 0");
    if (o.max_running <= 0) throw Error("batch engine: max_running must be > 0");
    // One sequence of the whole context must always fit: preemption can
    // then always make room for the highest-priority one.
    const int64_t one = (o.context_length + o.block_size - 1) / o.block_size * o.block_size;
    if (o.kv_tokens == 0) o.kv_tokens = one * o.max_running;
    if (o.kv_tokens < one) {
      throw Error("batch engine: kv_tokens = " + std::to_string(o.kv_tokens) +
                  " cannot hold one sequence of the context length " + std::to_string(o.context_length));
    }
    return o;
  }

  // Higher priority, then earlier arrival, then lower index first.
  static bool before(const Seq& a, const Seq& b) {
    if (a.req->r.priority != b.req->r.priority) return a.req->r.priority > b.req->r.priority;
    if (a.req->arrival != b.req->arrival) return a.req->arrival < b.req->arrival;
    return a.index < b.index;
  }

  void drop_kv(Seq& s) {
    free_blocks(kv_, s.kv);
    s.has_kv = false;
  }

  void cancel_request(Req& req, bool notify) {
    req.done = true;
    for (const auto& s : seqs_) {
      if (s->req.get() == &req && !s->done) {
        drop_kv(*s);
        s->done = true;
      }
    }
    if (notify && !req.sink_dead) {
      for (size_t i = 0; i < req.finished.size(); ++i) {
        if (req.finished[i]) continue;
        TokenEvent ev;
        ev.id = req.id;
        ev.index = static_cast<int32_t>(i);
        ev.finish = FinishReason::Cancelled;
        finals_.push_back({requests_ref(req), std::move(ev)});
      }
    }
    std::fill(req.finished.begin(), req.finished.end(), true);
  }

  std::shared_ptr<Req> requests_ref(const Req& req) const {
    for (const auto& r : requests_) {
      if (r.get() == &req) return r;
    }
    return nullptr;
  }

  // Sends `ev` for sequence `s`; a final event ends the sample and frees its KV.
  void emit(Seq& s, TokenEvent ev) {
    Req& req = *s.req;
    const bool final = ev.finish != FinishReason::None;
    if (final) {
      req.finished[static_cast<size_t>(s.index)] = true;
      drop_kv(s);
      s.done = true;
      if (std::all_of(req.finished.begin(), req.finished.end(), [](bool f) { return f; })) req.done = true;
    }
    if (req.sink_dead) return;
    if (!req.sink(ev)) {
      req.sink_dead = true;
      cancel_request(req, /*notify=*/false);
    }
  }

  void flush_finals() {
    while (!finals_.empty()) {
      auto batch = std::move(finals_);
      finals_.clear();
      for (auto& [req, ev] : batch) {
        if (req->sink_dead) continue;
        if (!req->sink(ev)) req->sink_dead = true;
      }
    }
  }

  // Drops finished requests and sequences; wakes wait_idle().
  void collect() {
    std::erase_if(seqs_, [](const std::shared_ptr<Seq>& s) { return s->done; });
    std::erase_if(requests_, [](const std::shared_ptr<Req>& r) { return r->done; });
    if (requests_.empty() && finals_.empty()) idle_cv_.notify_all();
  }

  void publish_stats() {
    EngineStats st;
    for (const auto& r : requests_) {
      if (!r->done && !r->started) ++st.queued;
    }
    for (const auto& s : seqs_) {
      if (s->has_kv) ++st.running;
    }
    st.kv_blocks_used = kv_.n_used();
    st.kv_blocks_total = kv_.n_blocks();
    st.requests_total = requests_total_;
    st.prompt_tokens_total = prompt_tokens_total_;
    st.generated_tokens_total = generated_tokens_total_;
    st.preemptions_total = preemptions_total_;
    std::lock_guard lock(stats_mu_);
    stats_ = st;
  }

  // The step's slots, in priority order; reserves their blocks, preempting
  // as needed.
  std::vector<Slot> schedule() {
    std::vector<std::shared_ptr<Seq>> order;
    for (const auto& s : seqs_) {
      if (!s->done) order.push_back(s);
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const std::shared_ptr<Seq>& a, const std::shared_ptr<Seq>& b) { return before(*a, *b); });
    std::vector<Slot> slots;
    int64_t budget = opt_.max_batch_tokens;
    const auto in_step = [&](const Seq* s) {
      return std::any_of(slots.begin(), slots.end(), [s](const Slot& x) { return x.seq.get() == s; });
    };
    // Sequences holding KV first: they never wait behind new ones.
    for (const auto& s : order) {
      if (budget == 0) break;
      if (!s->has_kv) continue;
      const int64_t pending = static_cast<int64_t>(s->tokens.size()) - s->kv.n_tokens;
      const int64_t take = std::min(pending, budget);
      while (!reserve_blocks(kv_, s->kv, s->kv.n_tokens + take)) {
        // The lowest sequence holding KV and not in this step gives its blocks up.
        Seq* victim = nullptr;
        for (auto it = order.rbegin(); it != order.rend(); ++it) {
          if ((*it)->has_kv && it->get() != s.get() && !in_step(it->get())) {
            victim = it->get();
            break;
          }
        }
        if (victim == nullptr) victim = s.get();
        drop_kv(*victim);
        ++preemptions_total_;
        if (victim == s.get()) break;
      }
      if (!s->has_kv) continue;
      slots.push_back({s, take, take == pending});
      budget -= take;
    }
    // Then waiting sequences, strictly in order (a later one never overtakes
    // one that does not fit, so none starves).
    int64_t running = 0;
    for (const auto& s : order) running += s->has_kv ? 1 : 0;
    for (const auto& s : order) {
      if (budget == 0 || running >= opt_.max_running) break;
      if (s->has_kv) continue;
      if (in_step(s.get())) continue;
      const auto n = static_cast<int64_t>(s->tokens.size());
      int64_t cached = 0;
      if (opt_.prefix_cache) cached = match_prefix(kv_, s->kv, s->tokens, n - 1);
      const int64_t take = std::min(n - cached, budget);
      if (!reserve_blocks(kv_, s->kv, cached + take)) {
        free_blocks(kv_, s->kv);
        break;
      }
      s->has_kv = true;
      ++running;
      slots.push_back({s, take, cached + take == n});
      budget -= take;
    }
    return slots;
  }

  // Samples the next token of `s` from `logits` and sends its event.
  void sample_and_emit(Seq& s, std::span<const float> logits) {
    Req& req = *s.req;
    work_.assign(logits.begin(), logits.end());
    TokenEvent ev;
    ev.id = req.id;
    ev.index = s.index;
    for (float l : logits) {
      if (!std::isfinite(l)) {
        ev.finish = FinishReason::Error;
        ev.error = "the logits are not finite (NaN or inf): the model's weights are broken";
        emit(s, std::move(ev));
        return;
      }
    }
    int32_t next;
    if (req.r.top_logprobs >= 0) {
      next = s.sampler.sample(work_, s.tokens, req.r.top_logprobs, lp_);
      ev.logprob = lp_.sampled;
      for (const TokenProb& t : lp_.top) ev.top.push_back({t.id, t.p});
    } else {
      next = s.sampler.sample(work_, s.tokens);
    }
    if (std::find(req.r.stop_ids.begin(), req.r.stop_ids.end(), next) != req.r.stop_ids.end()) {
      ev.finish = FinishReason::Stop;
      ev.top.clear();
      emit(s, std::move(ev));
      return;
    }
    ev.token = next;
    s.tokens.push_back(next);
    ++s.n_generated;
    ++generated_tokens_total_;
    if (s.n_generated >= req.r.max_new_tokens) {
      ev.finish = FinishReason::Length;
    } else if (static_cast<int64_t>(s.tokens.size()) >= opt_.context_length) {
      ev.finish = FinishReason::ContextFull;
    }
    emit(s, std::move(ev));
  }

  // After the prompt of a request with n > 1 ran on sample 0: samples 1 ..
  // n - 1 share its blocks.
  void fork(Seq& parent) {
    Req& req = *parent.req;
    req.forked = true;
    for (int32_t i = 1; i < req.r.n; ++i) {
      SamplerConfig c = req.r.sampling;
      c.seed += static_cast<uint64_t>(i);
      auto child = std::make_shared<Seq>(parent.req, i, Sampler(c));
      child->tokens = parent.tokens;
      child->kv = fork_blocks(kv_, parent.kv);
      child->has_kv = true;
      seqs_.push_back(child);
    }
  }

  void step(std::unique_lock<std::recursive_mutex>& lock) {
    std::vector<Slot> slots = schedule();
    if (slots.empty()) return;
    std::vector<int32_t> tokens;
    std::vector<int32_t> logit_rows;
    PagedBatch batch;
    batch.kv = &kv_;
    tables_.resize(slots.size());
    for (size_t i = 0; i < slots.size(); ++i) {
      Seq& s = *slots[i].seq;
      tables_[i] = s.kv.blocks;  // a cancel during the pass may free s.kv
      if (!s.req->started) s.req->started = true;
      const bool prompt = s.n_generated == 0;
      for (int64_t p = s.kv.n_tokens; p < s.kv.n_tokens + slots[i].take; ++p) {
        tokens.push_back(s.tokens[static_cast<size_t>(p)]);
        batch.pos.push_back(p);
        batch.table.push_back(tables_[i].data());
      }
      if (prompt) prompt_tokens_total_ += static_cast<uint64_t>(slots[i].take);
      if (slots[i].logits) logit_rows.push_back(static_cast<int32_t>(tokens.size() - 1));
    }
    logits_.resize(logit_rows.size() * static_cast<size_t>(shape_.vocab_size));
    lock.unlock();
    std::string error;
    try {
      forward_paged(shape_, *model_, tokens, batch, logit_rows, logits_.data(), buffers_, pool_);
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    size_t row = 0;
    for (Slot& slot : slots) {
      Seq& s = *slot.seq;
      const size_t my_row = slot.logits ? row++ : 0;
      if (s.done) continue;  // cancelled during the pass
      if (!error.empty()) {
        TokenEvent ev;
        ev.id = s.req->id;
        ev.index = s.index;
        ev.finish = FinishReason::Error;
        ev.error = error;
        emit(s, std::move(ev));
        continue;
      }
      s.kv.n_tokens += slot.take;
      if (opt_.prefix_cache) publish_full_blocks(kv_, s.kv, s.tokens);
      if (!slot.logits) continue;
      const std::span<const float> l(logits_.data() + my_row * static_cast<size_t>(shape_.vocab_size),
                                     static_cast<size_t>(shape_.vocab_size));
      if (s.index == 0 && s.req->r.n > 1 && !s.req->forked) {
        fork(s);
        // The samples draw from the same logits, in index order.
        std::vector<std::shared_ptr<Seq>> family;
        for (const auto& x : seqs_) {
          if (x->req == s.req && !x->done) family.push_back(x);
        }
        for (const auto& x : family) {
          if (!x->done) sample_and_emit(*x, l);
        }
      } else {
        sample_and_emit(s, l);
      }
    }
  }

  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      flush_finals();
      collect();
      publish_stats();
      if (stop_) break;
      const bool work = std::any_of(seqs_.begin(), seqs_.end(), [](const auto& s) { return !s->done; });
      if (!work) {
        work_cv_.wait(lock);
        continue;
      }
      step(lock);
    }
    for (const auto& r : requests_) {
      if (!r->done) cancel_request(*r, /*notify=*/true);
    }
    flush_finals();
    collect();
  }

  Shape shape_;
  std::shared_ptr<const PreparedModel> model_;
  ThreadPool& pool_;
  BatchEngineOptions opt_;
  KvBlockPool kv_;
  ForwardBuffers buffers_;
  std::vector<float> logits_, work_;
  SampleLogprobs lp_;  // filled by the sampler when a request asks for log-probabilities
  std::vector<std::vector<BlockId>> tables_;

  mutable std::recursive_mutex mu_;
  std::condition_variable_any work_cv_, idle_cv_;
  std::vector<std::shared_ptr<Req>> requests_;
  std::vector<std::shared_ptr<Seq>> seqs_;
  std::vector<std::pair<std::shared_ptr<Req>, TokenEvent>> finals_;
  RequestId next_id_ = 1;
  bool stop_ = false;
  uint64_t requests_total_ = 0, prompt_tokens_total_ = 0, generated_tokens_total_ = 0, preemptions_total_ = 0;

  mutable std::mutex stats_mu_;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace trix::serve
