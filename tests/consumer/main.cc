// Uses the installed headers: quantize with the format references, run the
// dispatched GEMV, and compare with the scalar contract. Exit 0 when equal.
#include <cstdio>
#include <cstring>
#include <vector>

#include "trix/cpu/dispatch.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq2_0.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

int main() {
  constexpr size_t rows = 5, cols = 512, blocks = cols / 256;
  std::vector<float> w(rows * cols), x(cols);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 7 % 3) - 1);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 17) - 8.0f;
  std::vector<trix::BlockTQ2_0> wq(rows * blocks);
  std::vector<trix::BlockQ8_K> xq(blocks);
  for (size_t r = 0; r < rows; ++r) trix::quantize_row_tq2_0(&w[r * cols], &wq[r * blocks], cols);
  trix::quantize_row_q8_k(x.data(), xq.data(), cols);
  std::vector<float> got(rows), want(rows);
  trix::GemvArgs args{wq.data(), blocks * sizeof(trix::BlockTQ2_0), xq.data(), cols, got.data(), rows};
  trix::cpu::gemv_tq2_0_q8_k(args);
  args.y = want.data();
  trix::kernels::gemv_tq2_0_q8_k_ref(args);
  if (std::memcmp(got.data(), want.data(), sizeof(float) * rows) != 0) {
    std::fprintf(stderr, "consumer: dispatched GEMV differs from the reference\n");
    return 1;
  }
  std::printf("consumer: trix::trix found and working (y[0] = %g)\n", static_cast<double>(got[0]));
  return 0;
}
