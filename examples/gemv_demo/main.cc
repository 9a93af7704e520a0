// The smallest use of TriX: quantize a random ternary layer to TQ2_0 and an
// activation row to Q8_K, run the generated GEMV through dynamic dispatch,
// and print a checksum and the time per call.
//   trix-gemv-demo [rows] [cols] [iterations]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "hwy/targets.h"
#include "trix/cpu/dispatch.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq2_0.h"

int main(int argc, char** argv) {
  const size_t rows = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2560;
  const size_t cols = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2560;
  const int iters = argc > 3 ? std::atoi(argv[3]) : 200;
  if (rows == 0 || cols == 0 || cols % 256 != 0 || iters <= 0) {
    std::fprintf(stderr, "usage: %s [rows] [cols, a multiple of 256] [iterations]\n", argv[0]);
    return 2;
  }

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> trit(-1, 1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(rows * cols), x(cols);
  for (auto& v : w) v = 0.02f * static_cast<float>(trit(rng));
  for (auto& v : x) v = normal(rng);

  const size_t blocks = cols / 256;
  std::vector<trix::BlockTQ2_0> wq(rows * blocks);
  std::vector<trix::BlockQ8_K> xq(blocks);
  for (size_t r = 0; r < rows; ++r) trix::quantize_row_tq2_0(&w[r * cols], &wq[r * blocks], cols);
  trix::quantize_row_q8_k(x.data(), xq.data(), cols);

  std::vector<float> y(rows);
  const trix::GemvArgs args{wq.data(), blocks * sizeof(trix::BlockTQ2_0), xq.data(), cols, y.data(), rows};
  trix::cpu::gemv_tq2_0_q8_k(args);  // first call picks the target

  std::vector<double> us;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    trix::cpu::gemv_tq2_0_q8_k(args);
    const auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  double checksum = 0;
  for (float v : y) checksum += v;
  const double median = us[us.size() / 2];
  const double bytes = static_cast<double>(wq.size() * sizeof(trix::BlockTQ2_0));
  // Dynamic dispatch picks the best (lowest-bit) target compiled in and supported.
  const int64_t usable = hwy::SupportedTargets() & HWY_TARGETS;
  std::printf("gemv_tq2_0_q8_k %zux%zu on %s (1 thread)\n", rows, cols,
              hwy::TargetName(usable & -usable));
  std::printf("checksum %.6f  y[0] %.6f\n", checksum, static_cast<double>(y[0]));
  std::printf("median %.1f us per call, %.1f GB/s of weights, %.0f GOPS\n", median,
              bytes / median * 1e-3, 2.0 * rows * cols / median * 1e-3);
  return 0;
}
