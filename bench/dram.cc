// DRAM read bandwidth, measured in the same run as the kernels (the machines
// of this kind differ by up to 2x, DESIGN.md section 4): each thread streams
// its contiguous share of a >= 1 GiB huge-page buffer with the widest loads
// the CPU has, XOR-folding them so the loads cannot be dropped.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "dram.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstddef>
#include <cstdint>
#include <vector>

#include "bench.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace trix::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// XOR of every 64-bit word in [p, p + bytes); bytes is a multiple of
// 4 vectors (the caller splits at 2 MiB boundaries).
uint64_t XorStream(const uint8_t* p, size_t bytes) {
  const hn::ScalableTag<uint64_t> d;
  const size_t n = bytes / sizeof(uint64_t);
  const auto* w = reinterpret_cast<const uint64_t*>(p);
  const size_t step = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  for (size_t i = 0; i + 4 * step <= n; i += 4 * step) {
    a0 = hn::Xor(a0, hn::Load(d, w + i));
    a1 = hn::Xor(a1, hn::Load(d, w + i + step));
    a2 = hn::Xor(a2, hn::Load(d, w + i + 2 * step));
    a3 = hn::Xor(a3, hn::Load(d, w + i + 3 * step));
  }
  const auto x = hn::Xor(hn::Xor(a0, a1), hn::Xor(a2, a3));
  uint64_t out = 0;
  for (size_t i = 0; i < step; ++i) out ^= hn::ExtractLane(x, i);
  return out;
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::bench {

HWY_EXPORT(XorStream);

void measure_dram(Context& ctx, double gbps[3]) {
  const HugeBuffer& buf = *ctx.big;
  // Fill with something non-constant (the zero page would be cheaper to
  // read on some hypervisors); the cold cases overwrite the buffer.
  for (size_t i = 0; i < buf.size(); i += 64) buf.data()[i] = static_cast<uint8_t>(i >> 6);
  const size_t reps = ctx.opt.quick ? 3 : 9;
  volatile uint64_t sink = 0;
  for (size_t t : {size_t{1}, size_t{2}}) {
    if (t > ctx.pool->num_threads()) continue;
    constexpr size_t kSplit = size_t{2} << 20;
    const size_t units = buf.size() / kSplit;
    std::vector<uint64_t> part(t);
    std::vector<double> us;
    for (size_t r = 0; r < reps + 1; ++r) {
      const double a = now_us();
      ctx.pool->parallel_for(t, [&](size_t task, size_t) {
        const auto [b, e] = ThreadPool::chunk(units, t, task);
        part[task] = HWY_DYNAMIC_DISPATCH(XorStream)(buf.data() + b * kSplit, (e - b) * kSplit);
      });
      const double dt = now_us() - a;
      if (r > 0) us.push_back(dt);  // the first pass warms the TLB and the pool
      for (uint64_t v : part) sink = sink ^ v;
    }
    gbps[t] = static_cast<double>(units * kSplit) / (median(us) * 1e3);
  }
  (void)sink;
}

std::string best_target_name() {
  const int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  return hwy::TargetName(targets & -targets);  // lowest bit = best target
}

}  // namespace trix::bench
#endif  // HWY_ONCE
