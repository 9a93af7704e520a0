// The program whose binary size trix-bench-model compares: stories260K
// greedy from BOS with one Shape type, and nothing else, so the two builds
// (stories_runtime.cc, stories_compile_time.cc) differ only in the shape.
#pragma once

#include <cstdio>
#include <exception>
#include <span>

#include "trix/core/thread_pool.h"
#include "trix/runtime/forward.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/llama2c_checkpoint.h"
#include "trix/runtime/sampler.h"

namespace trix::bench {

template <class MakeShape>
int stories_greedy_main(int argc, char** argv, MakeShape&& make_shape) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s stories260K.bin\n", argv[0]);
    return 2;
  }
  try {
    const Llama2cCheckpoint ck = Llama2cCheckpoint::load(argv[1]);
    ThreadPool pool(1);
    const auto shape = make_shape(ck.config());
    Decoder<std::decay_t<decltype(shape)>> dec(shape, ck.weights(), pool);
    Sampler sampler(SamplerConfig{});
    const int32_t bos = 1;
    GenerateOptions opt;
    opt.max_new_tokens = 61;
    opt.eos_id = 2;
    for (int32_t id : generate(dec, sampler, std::span<const int32_t>(&bos, 1), opt).tokens) {
      std::printf("%d ", id);
    }
    std::printf("\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace trix::bench
