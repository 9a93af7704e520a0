// ThreadPool: every task runs exactly once, the static split is what chunk()
// says, nested and repeated calls work, and row-split float work gives the
// same bits for any thread count.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "trix/core/thread_pool.h"

namespace {

TEST(ThreadPool, EveryTaskRunsOnceOnItsStaticThread) {
  for (size_t threads : {1, 2, 3, 5}) {
    trix::ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (size_t n : {0, 1, 2, 7, 64, 1000}) {
      std::vector<std::atomic<int>> runs(n);
      std::vector<size_t> owner(n, 99);
      pool.parallel_for(n, [&](size_t task, size_t thread) {
        runs[task].fetch_add(1);
        owner[task] = thread;
      });
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(runs[i].load(), 1) << "task " << i << " of " << n;
        if (n > 1 && threads > 1) {
          const auto [b, e] = trix::ThreadPool::chunk(n, threads, owner[i]);
          EXPECT_TRUE(i >= b && i < e) << "task " << i << " ran on thread " << owner[i];
        } else {
          EXPECT_EQ(owner[i], 0u);
        }
      }
    }
  }
}

TEST(ThreadPool, ChunksCoverRangeContiguously) {
  for (size_t n : {0, 1, 5, 100, 101}) {
    for (size_t t : {1, 2, 3, 8}) {
      size_t next = 0;
      for (size_t i = 0; i < t; ++i) {
        const auto [b, e] = trix::ThreadPool::chunk(n, t, i);
        EXPECT_EQ(b, next);
        EXPECT_LE(b, e);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(ThreadPool, ManyShortCallsAndNestedCallsComplete) {
  trix::ThreadPool pool(3);
  std::atomic<long> sum{0};
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(4, [&](size_t task, size_t) { sum.fetch_add(static_cast<long>(task)); });
  }
  EXPECT_EQ(sum.load(), 2000L * 6);
  // A nested call runs inline on the calling thread instead of deadlocking:
  // every inner task sees the outer task's OS thread and thread index 0.
  std::atomic<int> inner{0}, elsewhere{0};
  pool.parallel_for(3, [&](size_t, size_t) {
    const std::thread::id outer = std::this_thread::get_id();
    pool.parallel_for(5, [&](size_t, size_t thread) {
      inner.fetch_add(1);
      if (std::this_thread::get_id() != outer || thread != 0) elsewhere.fetch_add(1);
    });
  });
  EXPECT_EQ(inner.load(), 15);
  EXPECT_EQ(elsewhere.load(), 0);
}

// Row-split float work gives the bits of a plain serial loop (written
// without the pool) for every thread count: each row computed exactly once,
// by one thread, and all writes visible when parallel_for returns. (Before,
// the reference was the pool's own first result, so the 1-thread run was
// compared with itself.)
TEST(ThreadPool, RowSplitFloatWorkMatchesASerialLoop) {
  const size_t rows = 37, cols = 301;
  std::vector<float> m(rows * cols), x(cols);
  for (size_t i = 0; i < m.size(); ++i) m[i] = std::sin(0.37f * static_cast<float>(i));
  for (size_t i = 0; i < cols; ++i) x[i] = std::cos(0.11f * static_cast<float>(i));
  const auto row_dot = [&](size_t r) {
    float acc = 0.0f;
    for (size_t c = 0; c < cols; ++c) acc += m[r * cols + c] * x[c];
    return acc;
  };
  std::vector<float> serial(rows);
  for (size_t r = 0; r < rows; ++r) serial[r] = row_dot(r);
  for (size_t threads : {1, 2, 3, 4, 7}) {
    trix::ThreadPool pool(threads);
    for (int round = 0; round < 20; ++round) {
      std::vector<float> y(rows, std::nanf(""));
      pool.parallel_for(rows, [&](size_t r, size_t) { y[r] = row_dot(r); });
      ASSERT_EQ(std::memcmp(serial.data(), y.data(), rows * sizeof(float)), 0) << threads << " threads";
    }
  }
}

}  // namespace
