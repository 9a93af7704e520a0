// The serving interface: many requests at once on one prepared model.
//
// A caller submits a Request (token ids plus sampling settings) with an
// EventSink and receives the generated tokens as TokenEvents, one at a time,
// on the engine's own thread; cancel() stops a request at any point. The HTTP
// server (examples/server) is written against this interface only, so any
// engine can stand behind it: the continuous-batching engine that decodes
// every running sequence in one step, or a sequential one (a baseline).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/runtime/sampler.h"

namespace trix::serve {

using RequestId = uint64_t;

struct Request {
  std::vector<int32_t> prompt;    // token ids, BOS included when the model wants it; not empty
  SamplerConfig sampling;         // per request; the seed makes a sampled request reproducible
  int64_t max_new_tokens = 256;   // generated tokens per sample, the stopping id excluded
  std::vector<int32_t> stop_ids;  // a sampled id in this set ends its sample (not emitted)
  int32_t priority = 0;           // larger is scheduled first; first come first served within one
  int32_t n = 1;                  // independent samples of one prompt (TokenEvent::index)
  // -1: no log-probabilities; 0..20: each event carries the sampled token's
  // log-probability (of the distribution it was drawn from, before the
  // filters) and this many most likely alternatives.
  int32_t top_logprobs = -1;
};

enum class FinishReason : uint8_t {
  None,         // not finished: more events follow for this index
  Length,       // max_new_tokens generated
  Stop,         // an id of stop_ids was sampled
  ContextFull,  // the sequence reached the engine's context length
  Cancelled,    // cancel(), or the sink returned false
  Error,        // TokenEvent::error says why
};

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};

struct TokenEvent {
  RequestId id = 0;
  int32_t index = 0;   // which of the request's n samples
  int32_t token = -1;  // the generated id; -1 on a final event that carries none
  float logprob = 0.0f;                // when top_logprobs >= 0
  std::vector<TokenLogprob> top;       // top_logprobs alternatives, most likely first
  FinishReason finish = FinishReason::None;  // not None: the last event of this index
  std::string error;                   // when finish == Error
};

// Called on the engine's thread, in order for each (request, index); exactly
// one event per index has finish != None. Returning false cancels the whole
// request (e.g. the client disconnected); the sink is not called again for it.
using EventSink = std::function<bool(const TokenEvent&)>;

struct EngineStats {
  int64_t queued = 0;    // requests waiting for their first forward pass
  int64_t running = 0;   // sequences holding KV memory
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  uint64_t requests_total = 0;
  uint64_t prompt_tokens_total = 0;     // prompt tokens run (cached prefix tokens excluded)
  uint64_t generated_tokens_total = 0;
  uint64_t preemptions_total = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Validates `request` and queues it. Throws trix::Error (nothing queued)
  // when the prompt is empty or holds an id outside the vocabulary, when the
  // prompt does not leave room for one generated token in the context, when
  // n < 1 or top_logprobs > 20, or when the sampling settings are invalid.
  virtual RequestId submit(Request request, EventSink sink) = 0;

  // Cancels a queued or running request: its KV memory is freed before
  // cancel returns, and each unfinished index gets a final Cancelled event.
  // An unknown or finished id is ignored. Safe from any thread, including
  // from inside a sink.
  virtual void cancel(RequestId id) = 0;

  virtual EngineStats stats() const = 0;
  virtual int64_t context_length() const = 0;
  virtual int64_t vocab_size() const = 0;
};

// The checks every Engine::submit makes (see there), for a model of
// `vocab_size` ids and a sequence context of `context_length` positions;
// `who` starts the message. Throws trix::Error naming the field.
inline void validate_request(const Request& r, int64_t vocab_size, int64_t context_length,
                             const char* who) {
  const std::string w = who;
  if (r.prompt.empty()) throw Error(w + ": request.prompt is empty");
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    const int32_t id = r.prompt[i];
    if (id < 0 || id >= vocab_size) {
      throw Error(w + ": request.prompt[" + std::to_string(i) + "] = " + std::to_string(id) +
                  " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
    }
  }
  if (static_cast<int64_t>(r.prompt.size()) >= context_length) {
    throw Error(w + ": request.prompt holds " + std::to_string(r.prompt.size()) +
                " tokens, which leaves no room to generate in the context of " +
                std::to_string(context_length));
  }
  if (r.n < 1) throw Error(w + ": request.n must be >= 1");
  if (r.top_logprobs > 20) throw Error(w + ": request.top_logprobs must be <= 20");
  r.sampling.validate();
}

}  // namespace trix::serve
