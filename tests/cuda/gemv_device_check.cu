// On a real CUDA device: every generated GEMV kernel against the CPU scalar
// references (bit for bit, as their specs' accuracy says), then the ternary
// GEMV benchmark issue 11 asks for: TQ2_0 x Q8_K at batch 1 for the
// BitNet-2B-4T shapes, in microseconds and as a share of the device-to-device
// copy bandwidth measured in the same run. Built and run by
// tests/cuda/run_on_device.sh (no GPU on the CI machines: there, the same
// kernels run on the CPU grid emulator in tests/kernels/).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "trix/cuda/gemv_f16_f32.cuh"
#include "trix/cuda/gemv_i2_s_i8_s.cuh"
#include "trix/cuda/gemv_q4_k_q8_k.cuh"
#include "trix/cuda/gemv_q6_k_q8_k.cuh"
#include "trix/cuda/gemv_q8_0_q8_0.cuh"
#include "trix/cuda/gemv_tq2_0_q8_k.cuh"
#include "trix/formats/i2_s.h"
#include "trix/formats/q8_0.h"
#include "trix/formats/q8_k.h"
#include "trix/formats/tq2_0.h"
#include "trix/kernels/gemv_f16_f32_ref.h"
#include "trix/kernels/gemv_q4_k_q8_k_ref.h"
#include "trix/kernels/gemv_q6_k_q8_k_ref.h"
#include "trix/kernels/gemv_tq2_0_q8_k_ref.h"

namespace {

// Every CUDA runtime call's status: a failure ends the run (exit 2).
void check(cudaError_t e) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "CUDA error: %s\n", cudaGetErrorString(e));
    std::exit(2);
  }
}

std::vector<float> normal_floats(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

void* to_device(const void* host, size_t bytes) {
  void* d = nullptr;
  check(cudaMalloc(&d, bytes));
  check(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice));
  return d;
}

// One problem on the device: weights, activations, output.
struct DeviceGemv {
  trix::GemvArgs args;
  DeviceGemv(const void* w, size_t w_bytes, size_t w_row_bytes, const void* x, size_t x_bytes, size_t k, size_t rows) {
    float* y = nullptr;
    check(cudaMalloc(&y, rows * sizeof(float)));
    args = {to_device(w, w_bytes), w_row_bytes, to_device(x, x_bytes), k, y, rows};
  }
  ~DeviceGemv() {
    cudaFree(const_cast<void*>(args.w));
    cudaFree(const_cast<void*>(args.x));
    cudaFree(args.y);
  }
  std::vector<float> result() const {
    std::vector<float> y(args.rows);
    check(cudaMemcpy(y.data(), args.y, y.size() * sizeof(float), cudaMemcpyDeviceToHost));
    return y;
  }
};

int failures = 0;

void expect_bits(const char* kernel, const std::vector<float>& got, const std::vector<float>& want) {
  size_t bad = 0;
  for (size_t r = 0; r < want.size(); ++r) bad += std::memcmp(&got[r], &want[r], sizeof(float)) != 0;
  std::printf("%-16s %zu rows: %s (%zu rows differ)\n", kernel, want.size(), bad ? "FAIL" : "bit-exact", bad);
  failures += bad != 0;
}

void check_all(size_t rows, size_t k) {
  const std::vector<float> wf = normal_floats(rows * k, 1), xf = normal_floats(k, 2);
  std::vector<trix::BlockQ8_K> x8k(k / 256);
  trix::quantize_row_q8_k(xf.data(), x8k.data(), k);
  std::vector<float> want(rows);
  {
    std::vector<trix::BlockTQ2_0> w(rows * k / 256);
    trix::quantize_row_tq2_0(wf.data(), w.data(), wf.size());
    DeviceGemv d(w.data(), w.size() * sizeof w[0], k / 256 * sizeof w[0], x8k.data(), x8k.size() * sizeof x8k[0], k, rows);
    check(trix::cuda::launch_gemv_tq2_0_q8_k(d.args));
    trix::kernels::gemv_tq2_0_q8_k_ref({w.data(), k / 256 * sizeof w[0], x8k.data(), k, want.data(), rows});
    expect_bits("gemv_tq2_0_q8_k", d.result(), want);
  }
  {
    std::vector<trix::BlockQ6_K> w(rows * k / 256);
    trix::quantize_row_q6_k(wf.data(), w.data(), wf.size());
    DeviceGemv d(w.data(), w.size() * sizeof w[0], k / 256 * sizeof w[0], x8k.data(), x8k.size() * sizeof x8k[0], k, rows);
    check(trix::cuda::launch_gemv_q6_k_q8_k(d.args));
    trix::kernels::gemv_q6_k_q8_k_ref({w.data(), k / 256 * sizeof w[0], x8k.data(), k, want.data(), rows});
    expect_bits("gemv_q6_k_q8_k", d.result(), want);
  }
  {
    std::vector<trix::BlockQ4_K> w(rows * k / 256);
    trix::quantize_row_q4_k(wf.data(), w.data(), wf.size());
    DeviceGemv d(w.data(), w.size() * sizeof w[0], k / 256 * sizeof w[0], x8k.data(), x8k.size() * sizeof x8k[0], k, rows);
    check(trix::cuda::launch_gemv_q4_k_q8_k(d.args));
    trix::kernels::gemv_q4_k_q8_k_ref({w.data(), k / 256 * sizeof w[0], x8k.data(), k, want.data(), rows});
    expect_bits("gemv_q4_k_q8_k", d.result(), want);
  }
  {
    std::vector<uint16_t> w(rows * k);
    for (size_t i = 0; i < w.size(); ++i) w[i] = trix::fp32_to_fp16(wf[i]);
    DeviceGemv d(w.data(), w.size() * 2, k * 2, xf.data(), k * 4, k, rows);
    check(trix::cuda::launch_gemv_f16_f32(d.args));
    for (size_t r = 0; r < rows; ++r) want[r] = trix::kernels::gemv_f16_f32_row_ref(w.data() + r * k, xf.data(), k);
    expect_bits("gemv_f16_f32", d.result(), want);
  }
  {
    std::vector<trix::BlockQ8_0> w(rows * k / 32), x(k / 32);
    trix::quantize_row_q8_0(wf.data(), w.data(), wf.size());
    trix::quantize_row_q8_0(xf.data(), x.data(), k);
    DeviceGemv d(w.data(), w.size() * sizeof w[0], k / 32 * sizeof w[0], x.data(), x.size() * sizeof x[0], k, rows);
    check(trix::cuda::launch_gemv_q8_0_q8_0(d.args));
    for (size_t r = 0; r < rows; ++r) want[r] = trix::vec_dot_q8_0_q8_0(w.data() + r * (k / 32), x.data(), k);
    expect_bits("gemv_q8_0_q8_0", d.result(), want);
  }
  {
    std::vector<uint8_t> w(trix::i2_s_nbytes(rows, k)), x(k + 4);
    trix::quantize_i2_s(wf.data(), rows, k, w.data());
    trix::quantize_activations_i8_s(xf.data(), x.data(), k);
    DeviceGemv d(w.data(), w.size(), k / 4, x.data(), x.size(), k, rows);
    check(trix::cuda::launch_gemv_i2_s_i8_s(d.args));
    for (size_t r = 0; r < rows; ++r) want[r] = trix::vec_dot_i2_s_i8_s(w.data() + r * (k / 4), x.data(), k);
    expect_bits("gemv_i2_s_i8_s", d.result(), want);
  }
}

// Median of `reps` timings of `iters` back-to-back runs of fn, in microseconds per run.
template <class Fn>
double time_us(Fn fn, int iters = 50, int reps = 7) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a));
  check(cudaEventCreate(&b));
  fn();
  check(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    check(cudaEventRecord(a));
    for (int i = 0; i < iters; ++i) fn();
    check(cudaEventRecord(b));
    check(cudaEventSynchronize(b));
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b));
    t.push_back(1000.0 * ms / iters);
  }
  std::sort(t.begin(), t.end());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return t[t.size() / 2];
}

void bench() {
  // Device-to-device copy bandwidth: bytes read + bytes written per second.
  const size_t copy_bytes = size_t{512} << 20;
  void *src = nullptr, *dst = nullptr;
  check(cudaMalloc(&src, copy_bytes));
  check(cudaMalloc(&dst, copy_bytes));
  check(cudaMemset(src, 1, copy_bytes));
  const double copy_us = time_us([&] { check(cudaMemcpyAsync(dst, src, copy_bytes, cudaMemcpyDeviceToDevice)); }, 10);
  const double copy_gbs = 2.0 * copy_bytes / copy_us / 1e3;
  std::printf("device-to-device copy: %.1f GB/s (read + write)\n", copy_gbs);
  cudaFree(src);
  cudaFree(dst);
  const size_t shapes[][2] = {{2560, 2560}, {6912, 2560}, {2560, 6912}};
  for (const auto& s : shapes) {
    const size_t rows = s[0], k = s[1];
    std::vector<trix::BlockTQ2_0> w(rows * k / 256);
    std::vector<trix::BlockQ8_K> x(k / 256);
    const std::vector<float> wf = normal_floats(rows * k, 3), xf = normal_floats(k, 4);
    trix::quantize_row_tq2_0(wf.data(), w.data(), wf.size());
    trix::quantize_row_q8_k(xf.data(), x.data(), k);
    DeviceGemv d(w.data(), w.size() * sizeof w[0], k / 256 * sizeof w[0], x.data(), x.size() * sizeof x[0], k, rows);
    const double us = time_us([&] { check(trix::cuda::launch_gemv_tq2_0_q8_k(d.args)); });
    const double bytes = static_cast<double>(w.size() * sizeof w[0] + x.size() * sizeof x[0] + rows * 4);
    const double gbs = bytes / us / 1e3;
    std::printf("gemv_tq2_0_q8_k %5zu x %5zu: %8.2f us, %7.1f GB/s, %5.1f%% of copy bandwidth\n", rows, k, us, gbs,
                100.0 * gbs / copy_gbs);
  }
  std::printf("target (issue 11): 6912 x 2560 at >= 75%% of copy bandwidth\n");
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  check_all(7, 2560);
  check_all(33, 6912);
  check_all(2560, 2560);
  bench();
  return failures == 0 ? 0 : 1;
}
