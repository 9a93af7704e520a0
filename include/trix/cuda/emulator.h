// A CUDA grid emulator for hosts without a GPU: runs a kernel written in the
// CUDA subset TriX uses (trix/cuda/device.h) on the CPU, so tests (and, later,
// the runtime on a GPU-less host) can "launch" the very code nvcc compiles.
//
// Model, as CUDA specifies it where TriX kernels depend on it:
//  * gridDim x blockDim threads; blocks run one after another on the calling
//    OS thread (blocks may not communicate in CUDA either, except through
//    atomics, which are trivially atomic here);
//  * every thread of a block is a fiber (ucontext) with its own stack, so a
//    thread can stop in the middle of its code: __syncthreads() is a real
//    barrier (a thread waits until every live thread of its block arrived;
//    threads that returned count as arrived, as on sm_70+);
//  * warps are 32 consecutive linear thread indices; __shfl_*_sync(mask, ...)
//    waits until every lane named in `mask` executes the same shuffle with the
//    same mask, then exchanges values with CUDA's source-lane rules (width
//    segments, out-of-segment sources read their own value);
//  * __shared__ memory is per block: each declaration (trix/cuda/device.h's
//    TRIX_SHARED) is matched across threads by the order threads reach it,
//    and starts filled with 0xA5 bytes (uninitialised, as on a GPU, but
//    reproducibly so), as does the dynamic shared memory of a launch.
// What CUDA leaves undefined is an error here (trix::Error naming the block,
// thread and what went wrong): a shuffle whose mask names a lane that has
// returned or does something else, a mask without the calling lane, a
// deadlock (no thread can run, e.g. __syncthreads inside a branch only part
// of the block takes while the rest waits at a shuffle), shared declarations
// that differ between threads.
//
// Scheduling is deterministic (threads in linear order, each until it
// blocks), so results do not depend on timing. Not thread-safe per launch;
// separate OS threads may run separate launches.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "trix/core/error.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TRIX_EMU_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TRIX_EMU_ASAN 1
#endif
#if defined(TRIX_EMU_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

namespace trix::cuda::emu {

struct Dim3 {
  uint32_t x = 1, y = 1, z = 1;
  constexpr Dim3() = default;
  constexpr Dim3(uint32_t x_, uint32_t y_ = 1, uint32_t z_ = 1) : x(x_), y(y_), z(z_) {}  // NOLINT: as dim3
  constexpr uint64_t count() const { return uint64_t{x} * y * z; }
};

inline constexpr uint32_t kWarpSize = 32;
inline constexpr uint32_t kFullMask = 0xffffffffu;

enum class ShuffleKind { kIdx, kUp, kDown, kXor, kSync };

namespace detail {

// Size of each fiber's stack: kernels keep little on the stack, sanitizers
// make frames larger.
#if defined(TRIX_EMU_ASAN)
inline constexpr size_t kStackBytes = 256 * 1024;
#else
inline constexpr size_t kStackBytes = 64 * 1024;
#endif

enum class State { kRunnable, kAtBarrier, kAtShuffle, kDone };

struct Fiber {
  ucontext_t context{};
  std::unique_ptr<unsigned char[]> stack;
  State state = State::kDone;
  Dim3 thread_idx;
  uint32_t linear = 0;
  size_t shared_cursor = 0;  // how many TRIX_SHARED declarations it has passed
  // The pending shuffle (kAtShuffle).
  ShuffleKind kind = ShuffleKind::kSync;
  uint32_t mask = 0;
  uint32_t src_lane = 0;  // already resolved from the kind, lane argument and width
  uint64_t value = 0;
  uint64_t result = 0;
};

struct SharedArray {
  std::unique_ptr<unsigned char[]> bytes;
  size_t size = 0, align = 0;
  unsigned char* data = nullptr;  // aligned into bytes
};

struct Launch {
  Dim3 grid, block, block_idx;
  std::function<void()> body;  // one thread's kernel call
  std::vector<Fiber> fibers;
  std::vector<SharedArray> shared;
  std::vector<unsigned char> dynamic_shared;
  Fiber* current = nullptr;
  ucontext_t scheduler{};
  std::exception_ptr failure;
#if defined(TRIX_EMU_ASAN)
  const void* scheduler_stack_bottom = nullptr;
  size_t scheduler_stack_size = 0;
#endif
};

inline thread_local Launch* active = nullptr;

inline Launch& launch_or_die() {
  if (active == nullptr) throw Error("CUDA emulator: a device intrinsic was called outside an emulated launch");
  return *active;
}

inline std::string where(const Launch& l, const Fiber& f) {
  std::string s = "CUDA emulator: block (";
  s += std::to_string(l.block_idx.x) + "," + std::to_string(l.block_idx.y) + "," +
       std::to_string(l.block_idx.z) + ") thread (" + std::to_string(f.thread_idx.x) + "," +
       std::to_string(f.thread_idx.y) + "," + std::to_string(f.thread_idx.z) + "): ";
  return s;
}

// Fiber -> scheduler. `finished`: the fiber never resumes (its fake stack,
// under ASan, is released).
inline void yield_to_scheduler(bool finished) {
  Launch& l = *active;
  Fiber& f = *l.current;
#if defined(TRIX_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(finished ? nullptr : &fake, l.scheduler_stack_bottom, l.scheduler_stack_size);
  swapcontext(&f.context, &l.scheduler);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  (void)finished;
  swapcontext(&f.context, &l.scheduler);
#endif
}

inline void fiber_entry() {
  Launch& l = *active;
#if defined(TRIX_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, &l.scheduler_stack_bottom, &l.scheduler_stack_size);
#endif
  try {
    l.body();
  } catch (...) {
    if (!l.failure) l.failure = std::current_exception();
  }
  l.current->state = State::kDone;
  yield_to_scheduler(true);
}

// Scheduler -> fiber f, until it blocks or returns.
inline void resume(Launch& l, Fiber& f) {
  l.current = &f;
#if defined(TRIX_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack.get(), kStackBytes);
  swapcontext(&l.scheduler, &f.context);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  swapcontext(&l.scheduler, &f.context);
#endif
  l.current = nullptr;
}

inline const char* state_name(State s) {
  switch (s) {
    case State::kRunnable: return "running";
    case State::kAtBarrier: return "at __syncthreads";
    case State::kAtShuffle: return "at a warp shuffle";
    case State::kDone: return "returned";
  }
  return "?";
}

// Completes the shuffles of one warp whose every named lane has arrived.
// Returns whether any thread was released.
inline bool resolve_warp(Launch& l, size_t first, size_t end) {
  bool released = false;
  for (size_t i = first; i < end; ++i) {
    Fiber& f = l.fibers[i];
    if (f.state != State::kAtShuffle) continue;
    bool all_here = true;
    for (uint32_t lane = 0; lane < kWarpSize; ++lane) {
      if (!((f.mask >> lane) & 1u)) continue;
      const size_t j = first + lane;
      if (j >= end) throw Error(where(l, f) + "shuffle mask names lane " + std::to_string(lane) +
                                ", which this block does not have");
      const Fiber& g = l.fibers[j];
      if (g.state == State::kDone) {
        throw Error(where(l, f) + "shuffle mask names lane " + std::to_string(lane) + ", which has returned");
      }
      if (g.state != State::kAtShuffle) {
        all_here = false;
        break;
      }
      if (g.mask != f.mask || g.kind != f.kind) {
        throw Error(where(l, f) + "lanes " + std::to_string(f.linear % kWarpSize) + " and " +
                    std::to_string(lane) + " meet at different shuffles (kind or mask differ)");
      }
    }
    if (!all_here) continue;
    for (uint32_t lane = 0; lane < kWarpSize; ++lane) {
      if (!((f.mask >> lane) & 1u)) continue;
      Fiber& g = l.fibers[first + lane];
      if (g.kind != ShuffleKind::kSync) {
        if (!((f.mask >> g.src_lane) & 1u)) {
          throw Error(where(l, g) + "shuffle reads lane " + std::to_string(g.src_lane) +
                      ", which is not in the mask");
        }
        g.result = l.fibers[first + g.src_lane].value;
      }
    }
    for (uint32_t lane = 0; lane < kWarpSize; ++lane) {
      if ((f.mask >> lane) & 1u) l.fibers[first + lane].state = State::kRunnable;
    }
    released = true;
  }
  return released;
}

inline void run_block(Launch& l) {
  const size_t n = l.fibers.size();
  for (auto& f : l.fibers) {
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.get();
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = nullptr;
    makecontext(&f.context, fiber_entry, 0);
    f.state = State::kRunnable;
    f.shared_cursor = 0;
  }
  l.shared.clear();
  std::fill(l.dynamic_shared.begin(), l.dynamic_shared.end(), static_cast<unsigned char>(0xA5));
  for (;;) {
    bool ran = false;
    for (auto& f : l.fibers) {
      if (f.state != State::kRunnable) continue;
      resume(l, f);
      ran = true;
      if (l.failure) std::rethrow_exception(l.failure);
    }
    bool released = false;
    for (size_t w = 0; w < n; w += kWarpSize) released |= resolve_warp(l, w, std::min(n, w + kWarpSize));
    size_t done = 0, at_barrier = 0;
    for (const auto& f : l.fibers) {
      done += f.state == State::kDone;
      at_barrier += f.state == State::kAtBarrier;
    }
    if (done == n) return;
    if (at_barrier > 0 && at_barrier + done == n) {
      for (auto& f : l.fibers) {
        if (f.state == State::kAtBarrier) f.state = State::kRunnable;
      }
      released = true;
    }
    if (!ran && !released) {
      std::string msg = "CUDA emulator: deadlock in block (" + std::to_string(l.block_idx.x) + "," +
                        std::to_string(l.block_idx.y) + "," + std::to_string(l.block_idx.z) + "):";
      for (const auto& f : l.fibers) {
        if (f.state != State::kDone) msg += " thread " + std::to_string(f.linear) + " " + state_name(f.state) + ";";
      }
      throw Error(msg);
    }
  }
}

template <class T>
uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "shuffles move 4- or 8-byte values");
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof v);
  return u;
}

template <class T>
T from_bits(uint64_t u) {
  T v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

inline uint32_t lane_of(const Fiber& f) { return f.linear % kWarpSize; }

// Parks the calling thread at a shuffle and returns what it receives.
inline uint64_t shuffle(ShuffleKind kind, uint32_t mask, uint64_t value, int lane_arg, int width) {
  Launch& l = launch_or_die();
  Fiber& f = *l.current;
  const uint32_t lane = lane_of(f);
  if (!((mask >> lane) & 1u)) throw Error(where(l, f) + "shuffle mask does not include the calling lane");
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) {
    throw Error(where(l, f) + "shuffle width " + std::to_string(width) + " is not a power of two <= 32");
  }
  const int seg = static_cast<int>(lane) & ~(width - 1);
  int src = static_cast<int>(lane);
  switch (kind) {
    case ShuffleKind::kIdx: src = seg + (lane_arg & (width - 1)); break;
    case ShuffleKind::kUp: src = static_cast<int>(lane) - lane_arg; break;
    case ShuffleKind::kDown: src = static_cast<int>(lane) + lane_arg; break;
    case ShuffleKind::kXor: src = static_cast<int>(lane) ^ lane_arg; break;
    case ShuffleKind::kSync: break;
  }
  if (src < seg || src >= seg + width) src = static_cast<int>(lane);  // outside the segment: own value
  f.kind = kind;
  f.mask = mask;
  f.src_lane = static_cast<uint32_t>(src);
  f.value = value;
  f.state = State::kAtShuffle;
  yield_to_scheduler(false);
  return f.result;
}

}  // namespace detail

// ---- What kernels see (trix/cuda/device.h maps the CUDA names onto these).

inline const Dim3& thread_idx() { return detail::launch_or_die().current->thread_idx; }
inline const Dim3& block_idx() { return detail::launch_or_die().block_idx; }
inline const Dim3& block_dim() { return detail::launch_or_die().block; }
inline const Dim3& grid_dim() { return detail::launch_or_die().grid; }

inline void syncthreads() {
  detail::Launch& l = detail::launch_or_die();
  l.current->state = detail::State::kAtBarrier;
  detail::yield_to_scheduler(false);
}

inline void syncwarp(uint32_t mask = kFullMask) { detail::shuffle(ShuffleKind::kSync, mask, 0, 0, 32); }

template <class T>
T shfl(ShuffleKind kind, uint32_t mask, T v, int lane_arg, int width) {
  return detail::from_bits<T>(detail::shuffle(kind, mask, detail::to_bits(v), lane_arg, width));
}

// One __shared__ object of type T (an array type for arrays) for the
// calling block: the n-th declaration a thread reaches is the block's n-th.
template <class T>
T& shared() {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>,
                "__shared__ objects are raw memory");
  detail::Launch& l = detail::launch_or_die();
  detail::Fiber& f = *l.current;
  const size_t n = f.shared_cursor++;
  if (n == l.shared.size()) {
    detail::SharedArray a;
    a.size = sizeof(T);
    a.align = alignof(T) < 16 ? 16 : alignof(T);
    a.bytes = std::make_unique<unsigned char[]>(a.size + a.align);
    auto p = reinterpret_cast<uintptr_t>(a.bytes.get());
    a.data = a.bytes.get() + ((a.align - p % a.align) % a.align);
    std::memset(a.data, 0xA5, a.size);
    l.shared.push_back(std::move(a));
  }
  const detail::SharedArray& a = l.shared[n];
  if (a.size != sizeof(T) || a.align < alignof(T)) {
    throw Error(detail::where(l, f) + "__shared__ declaration " + std::to_string(n) +
                " differs from the one other threads of the block reached");
  }
  return *std::launder(reinterpret_cast<T*>(a.data));
}

// The launch's dynamic shared memory (extern __shared__), as T[].
template <class T>
T* dynamic_shared() {
  detail::Launch& l = detail::launch_or_die();
  return reinterpret_cast<T*>(l.dynamic_shared.data());
}

template <class T>
T atomic_add(T* address, T v) {
  return std::atomic_ref<T>(*address).fetch_add(v);
}

// Runs kernel(args...) on every thread of a grid x block launch.
template <class Kernel, class... Args>
void launch(const Kernel& kernel, Dim3 grid, Dim3 block, size_t dynamic_shared_bytes, Args... args) {
  if (detail::active != nullptr) throw Error("CUDA emulator: nested launch (dynamic parallelism is not emulated)");
  if (block.count() == 0 || block.count() > 1024 || grid.count() == 0) {
    throw Error("CUDA emulator: invalid launch configuration (block of " + std::to_string(block.count()) +
                " threads, grid of " + std::to_string(grid.count()) + " blocks)");
  }
  detail::Launch l;
  l.grid = grid;
  l.block = block;
  l.body = [&] { kernel(args...); };
  l.fibers.resize(block.count());
  uint32_t linear = 0;
  for (uint32_t z = 0; z < block.z; ++z) {
    for (uint32_t y = 0; y < block.y; ++y) {
      for (uint32_t x = 0; x < block.x; ++x) {
        detail::Fiber& f = l.fibers[linear];
        f.stack = std::make_unique_for_overwrite<unsigned char[]>(detail::kStackBytes);
        f.thread_idx = Dim3(x, y, z);
        f.linear = linear++;
      }
    }
  }
  l.dynamic_shared.resize(dynamic_shared_bytes);
  struct Deactivate {
    ~Deactivate() { detail::active = nullptr; }
  } deactivate;
  detail::active = &l;
  for (uint32_t z = 0; z < grid.z; ++z) {
    for (uint32_t y = 0; y < grid.y; ++y) {
      for (uint32_t x = 0; x < grid.x; ++x) {
        l.block_idx = Dim3(x, y, z);
        detail::run_block(l);
      }
    }
  }
}

}  // namespace trix::cuda::emu
