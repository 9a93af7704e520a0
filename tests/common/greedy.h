// Greedy generation for the model tests: a loaded model's ids from one
// first token, on a given number of threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "trix/core/thread_pool.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/loader.h"
#include "trix/runtime/sampler.h"

namespace trix::test {

// Up to n ids (fewer if the context ends first) greedy after `first`,
// stopping at eos_id (-1: never).
inline std::vector<int32_t> greedy_ids(const LoadedModel& m, size_t threads, int64_t n, int32_t first,
                                       int32_t eos_id) {
  ThreadPool pool(threads);
  Decoder<RuntimeShape> dec(RuntimeShape::from(m.config), m.weights, pool);
  Sampler sampler(SamplerConfig{});
  GenerateOptions opt;
  opt.max_new_tokens = std::min<int64_t>(n, dec.context_length() - 1);
  opt.eos_id = eos_id;
  return generate(dec, sampler, std::span<const int32_t>(&first, 1), opt).tokens;
}

}  // namespace trix::test
