// One persistent pool of worker threads for every CPU kernel and model step.
//
// Why this shape: decode runs hundreds of small parallel regions per token, so
// threads are created once and woken per region; work is split up front by
// task index (static chunks), so which thread computes which task depends only
// on (n_tasks, n_threads), and callers that give each task its own output rows
// get bit-identical results for any thread count (no float reduction ever
// crosses a task boundary).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace trix {

class ThreadPool {
 public:
  // Starts n_threads - 1 workers; the thread that calls parallel_for is the
  // n_threads-th. n_threads == 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(size_t n_threads = 0) {
    if (n_threads == 0) n_threads = std::max<size_t>(1, std::thread::hardware_concurrency());
    n_threads_ = n_threads;
    workers_.reserve(n_threads_ - 1);
    for (size_t t = 1; t < n_threads_; ++t) {
      workers_.emplace_back([this, t] { worker_loop(t); });
    }
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      stop_.store(true, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  size_t num_threads() const { return n_threads_; }

  // Thread t (0 = the caller) runs tasks [begin, end) of a static split.
  // Exposed so that callers can size per-thread scratch or reason about the
  // split; parallel_for uses exactly this.
  static std::pair<size_t, size_t> chunk(size_t n_tasks, size_t n_threads, size_t t) {
    return {n_tasks * t / n_threads, n_tasks * (t + 1) / n_threads};
  }

  // Calls fn(task, thread) once for every task in [0, n_tasks) and returns
  // when all calls have finished. Thread t runs the contiguous tasks
  // chunk(n_tasks, num_threads(), t) in increasing order; thread 0 is the
  // caller. fn must not throw (an exception terminates the program: workers
  // cannot hand it back safely). Calls from several threads at once are
  // serialised; a call from inside fn runs inline on the calling thread.
  // No allocation happens per call.
  template <class Fn>
  void parallel_for(size_t n_tasks, Fn&& fn) {
    using FnT = std::remove_reference_t<Fn>;
    if (n_tasks == 0) return;
    if (n_threads_ == 1 || n_tasks == 1 || in_pool_task()) {
      for (size_t i = 0; i < n_tasks; ++i) fn(i, size_t{0});
      return;
    }
    std::lock_guard<std::mutex> call_lock(call_mutex_);
    job_fn_ = [](void* ctx, size_t task, size_t thread) noexcept {
      (*static_cast<FnT*>(ctx))(task, thread);
    };
    job_ctx_ = const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
    job_tasks_ = n_tasks;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
      // The mutex orders the job fields before the new generation for
      // workers that went to sleep on the condition variable.
      std::lock_guard<std::mutex> lock(wake_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_cv_.notify_all();

    in_pool_task() = true;
    run_chunk(0);
    in_pool_task() = false;

    // Workers finish within microseconds of the caller for balanced work;
    // spin briefly, then yield.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin > 4096) std::this_thread::yield();
    }
  }

 private:
  using JobFn = void (*)(void*, size_t, size_t) noexcept;

  static bool& in_pool_task() {
    thread_local bool inside = false;
    return inside;
  }

  void run_chunk(size_t t) {
    const auto [begin, end] = chunk(job_tasks_, n_threads_, t);
    for (size_t i = begin; i < end; ++i) job_fn_(job_ctx_, i, t);
  }

  void worker_loop(size_t t) {
    in_pool_task() = true;
    uint64_t seen = 0;
    for (;;) {
      // Spin a little first: in decode the next region starts within
      // microseconds, and a futex wake costs more than the work.
      uint64_t gen = generation_.load(std::memory_order_acquire);
      for (int spin = 0; gen == seen && spin < 20000; ++spin) {
        gen = generation_.load(std::memory_order_acquire);
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        wake_cv_.wait(lock, [&] {
          return generation_.load(std::memory_order_acquire) != seen;
        });
        gen = generation_.load(std::memory_order_acquire);
      }
      seen = gen;
      if (stop_.load(std::memory_order_relaxed)) return;
      run_chunk(t);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  size_t n_threads_ = 1;
  std::vector<std::thread> workers_;

  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> pending_{0};
  std::atomic<bool> stop_{false};  // set before the last generation bump

  JobFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  size_t job_tasks_ = 0;
};

}  // namespace trix
