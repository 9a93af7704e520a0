// Small decoder ops at BitNet-b1.58-2B-4T sizes (hidden 2560, ffn 6912, 20
// heads of 128), one thread, in cache: the Highway versions (trix/cpu/ops.h)
// with the runtime's scalar ones (trix/runtime/matmul.h) as the naive baseline.
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench.h"
#include "trix/cpu/ops.h"
#include "trix/runtime/reference_ops.h"
#include "trix/runtime/rope.h"

namespace trix::bench {

void run_ops_cases(Context& ctx) {
  constexpr size_t kDim = 2560, kFfn = 6912, kHeads = 20, kHeadDim = 128;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  auto vec = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
  };
  const auto x = vec(kFfn), w = vec(kFfn), up = vec(kFfn);
  std::vector<float> out(kFfn), gate(kFfn);
  std::vector<float> cos_t(kHeadDim / 2), sin_t(kHeadDim / 2);
  rope_table(7, kHeadDim, 500000.0f, cos_t.data(), sin_t.data());
  std::vector<BlockQ8_K> q8k(kDim / 256);
  std::vector<int8_t> q8(kDim);

  struct OpCase {
    const char* op;
    size_t n;
    std::function<void(size_t)> scalar, simd;
  };
  const std::vector<OpCase> cases = {
      {"rmsnorm", kDim, [&](size_t) { ref::rmsnorm(x.data(), w.data(), out.data(), kDim, 1e-5f); },
       [&](size_t) { cpu::ops::rmsnorm(x.data(), w.data(), out.data(), kDim, 1e-5f); }},
      {"rope_adjacent", kDim,
       [&](size_t) {
         ref::rope_apply(out.data(), kHeads, kHeadDim, cos_t.data(), sin_t.data(), RopeStyle::Adjacent);
       },
       [&](size_t) { cpu::ops::rope_adjacent(out.data(), kHeads, kHeadDim, cos_t.data(), sin_t.data()); }},
      {"rope_neox", kDim,
       [&](size_t) {
         ref::rope_apply(out.data(), kHeads, kHeadDim, cos_t.data(), sin_t.data(), RopeStyle::NeoxHalves);
       },
       [&](size_t) { cpu::ops::rope_neox(out.data(), kHeads, kHeadDim, cos_t.data(), sin_t.data()); }},
      // The gate is restored from x before each call (a 27 KB copy, in both
      // columns) so every call sees the same inputs.
      {"swiglu", kFfn,
       [&](size_t) {
         gate = x;
         ref::swiglu(gate.data(), up.data(), kFfn);
       },
       [&](size_t) {
         gate = x;
         cpu::ops::swiglu(gate.data(), up.data(), kFfn);
       }},
      {"relu2_gate", kFfn,
       [&](size_t) {
         gate = x;
         ref::relu2_gate(gate.data(), up.data(), kFfn);
       },
       [&](size_t) {
         gate = x;
         cpu::ops::relu2_gate(gate.data(), up.data(), kFfn);
       }},
      {"softmax", kDim,
       [&](size_t) {
         out.assign(x.begin(), x.begin() + kDim);
         ref::softmax(out.data(), kDim);
       },
       [&](size_t) {
         out.assign(x.begin(), x.begin() + kDim);
         cpu::ops::softmax(out.data(), kDim);
       }},
      {"quantize_q8_k", kDim, [&](size_t) { quantize_row_q8_k(x.data(), q8k.data(), kDim); },
       [&](size_t) { cpu::ops::quantize_row_q8_k(x.data(), q8k.data(), kDim); }},
      {"quantize_i8_s", kDim, [&](size_t) { quantize_row_i8_s(x.data(), q8.data(), kDim); },
       [&](size_t) { cpu::ops::quantize_row_i8_s(x.data(), q8.data(), kDim); }},
      {"add", kDim, [&](size_t) { ref::add_inplace(out.data(), x.data(), kDim); },
       [&](size_t) { cpu::ops::add_inplace(out.data(), x.data(), kDim); }},
  };
  const double budget = ctx.opt.seconds_per_case * 0.2e6;
  const size_t min_reps = ctx.opt.quick ? 2 : 50, max_reps = ctx.opt.quick ? 3 : 20000;
  for (const auto& c : cases) {
    Record rec;
    // Appended piecewise: GCC 12 -O3 reports a false -Wrestrict on the
    // equivalent chain of operator+ here.
    rec.name = "op/";
    rec.name += c.op;
    rec.name += '/';
    rec.name += std::to_string(c.n);
    if (!selected(ctx, rec.name)) continue;
    rec.op = c.op;
    rec.weight_format = "f32";
    rec.layout = "-";
    rec.act_format = "f32";
    rec.impl = "trix/cpu/ops.h (naive: trix/runtime/matmul.h)";
    rec.k = c.n;
    rec.n = 1;
    rec.threads = 1;
    rec.cache = "hot";
    rec.us_per_call = time_calls(c.simd, min_reps, max_reps, budget, &rec.reps, &rec.us_min);
    rec.naive_us = time_calls(c.scalar, min_reps, max_reps, budget);
    rec.speedup_vs_naive = rec.naive_us / rec.us_per_call;
    ctx.records.push_back(rec);
    print_record(ctx, rec);
  }
}

}  // namespace trix::bench
