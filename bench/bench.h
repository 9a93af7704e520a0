// Shared pieces of trix-bench: options, result records, timing and the
// huge-page buffers that hold the weights. Each family of cases lives in its
// own translation unit.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trix/core/error.h"
#include "trix/core/thread_pool.h"

namespace trix::bench {

struct Options {
  std::vector<size_t> threads = {1, 2};
  std::string filter;         // substring of the case name; empty = all
  bool quick = false;         // few repetitions, small cold set: smoke runs
  size_t cold_bytes = size_t{1} << 30;  // distinct weight bytes rotated through
  double seconds_per_case = 0.25;       // time budget per timed loop
};

// One measured case (one JSON record, one table row).
struct Record {
  std::string name;  // op/weight/act/MxK/nN/cache/Tt: what --filter matches
  std::string op, weight_format, layout, act_format, impl;
  size_t m = 0, k = 0, n = 0, threads = 0;
  std::string cache;  // "hot", "cold" or "-" (ops)
  double us_per_call = 0;  // median
  double us_min = 0;       // fastest call: how far other load pushed the median
  double weight_bytes = 0;  // per call
  double weight_gbps = 0, pct_of_dram = 0, gops = 0;
  double naive_us = 0, speedup_vs_naive = 0;
  double llama_cpp_us = 0, vs_llama_cpp = 0;  // external figure; 0 = none
  size_t reps = 0;
};

inline double now_us() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::micro>(clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// Times fn(i) for i = 0, 1, ... (call i may use input i, e.g. the i-th cold
// copy): one untimed warm-up call, then calls until both min_reps and the
// time budget are reached (at most max_reps). Returns the median in us.
inline double time_calls(const std::function<void(size_t)>& fn, size_t min_reps, size_t max_reps,
                         double budget_us, size_t* reps_out = nullptr, double* min_out = nullptr) {
  fn(0);
  std::vector<double> t;
  t.reserve(max_reps);
  const double start = now_us();
  for (size_t i = 1; t.size() < max_reps; ++i) {
    const double a = now_us();
    fn(i);
    t.push_back(now_us() - a);
    if (t.size() >= min_reps && now_us() - start > budget_us) break;
  }
  if (reps_out) *reps_out = t.size();
  if (min_out) *min_out = *std::min_element(t.begin(), t.end());
  return median(t);
}

// Anonymous memory on transparent huge pages where the kernel allows it
// (DESIGN.md section 4: +20% streaming bandwidth over 4 KiB pages), 2 MiB
// aligned. Touched page by page on construction so timing never includes
// page faults.
class HugeBuffer {
 public:
  HugeBuffer() = default;
  explicit HugeBuffer(size_t bytes) : size_(bytes) {
    constexpr size_t kHuge = size_t{2} << 20;
    mapped_ = (bytes + 2 * kHuge - 1) / kHuge * kHuge;
    void* p = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw Error("trix-bench: mmap of " + std::to_string(mapped_) + " bytes failed");
    base_ = static_cast<uint8_t*>(p);
    const uintptr_t a = reinterpret_cast<uintptr_t>(base_);
    data_ = reinterpret_cast<uint8_t*>((a + kHuge - 1) / kHuge * kHuge);
    madvise(data_, bytes, MADV_HUGEPAGE);
    for (size_t i = 0; i < bytes; i += 4096) data_[i] = 0;
  }
  HugeBuffer(HugeBuffer&& o) noexcept { *this = std::move(o); }
  HugeBuffer& operator=(HugeBuffer&& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
    return *this;
  }
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;
  ~HugeBuffer() {
    if (base_) munmap(base_, mapped_);
  }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* base_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t size_ = 0, mapped_ = 0;
};

struct Context {
  Options opt;
  ThreadPool* pool = nullptr;
  HugeBuffer* big = nullptr;  // opt.cold_bytes: DRAM stream and cold weight copies
  // DRAM read GB/s by thread count (1, 2): measured before and after the
  // cases; the higher of the two is the reference, as other processes on
  // the machine can only lower a measurement.
  double dram_gbps[3] = {0, 0, 0};
  double dram_start[3] = {0, 0, 0}, dram_end[3] = {0, 0, 0};
  std::vector<Record> records;
  std::string best_target;  // Highway target the kernels dispatch to
};

// Case families, one translation unit each.
// DRAM read GB/s by thread count (index 1 and 2) into gbps.
void measure_dram(Context& ctx, double gbps[3]);
void run_gemv_cases(Context& ctx);
void run_ops_cases(Context& ctx);
std::string best_target_name();

// The naive baseline's f32 dot (the runtime's scalar dot_f32).
float naive_dot_f32(const float* a, const float* b, size_t n);
// One table row on stdout, as soon as the case is measured.
void print_record(const Context& ctx, const Record& r);

inline bool selected(const Context& ctx, const std::string& name) {
  return ctx.opt.filter.empty() || name.find(ctx.opt.filter) != std::string::npos;
}

}  // namespace trix::bench
