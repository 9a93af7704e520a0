// The packed4 ternary GEMV and GEMM (TQ2_0, TQ1_0 x Q8_K; I2_S x int8) on
// every Highway target compiled in, against the scalar references (lanes16
// for TQ2_0/TQ1_0, vec_dot_i2_s_i8 for I2_S) under the accuracy contract of
// each kernel's spec (kAccuracy); any split of the row groups gives the same
// bits.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ternary_packed_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/bits.h"
#include "common/kernel_accuracy.h"
#include "hwy/highway.h"
#include "hwy/tests/hwy_gtest.h"
#include "kernels/packed_test_data.h"
#include "trix/cpu/arm_features.h"
#include "trix/cpu/kernels-inl.h"
#include "trix/cpu/ternary_packed-inl.h"

#ifndef TRIX_PACKED_TEST_PROBLEMS_
#define TRIX_PACKED_TEST_PROBLEMS_
namespace trix::test {
// Shapes of issue 5: K = 256 .. 13824, odd M, n = 1, 2, 3, 7, 64, 512; kept
// small enough for ASan. Built once, shared by every target.
inline const std::vector<PackedProblem>& packed_problems() {
  static const std::vector<PackedProblem> problems = [] {
    std::vector<PackedProblem> out;
    uint64_t seed = 100;
    for (PackedFormat f : {PackedFormat::kTQ2_0, PackedFormat::kTQ1_0, PackedFormat::kI2_S}) {
      for (size_t cols : {256u, 768u, 2560u}) {
        for (size_t rows : {1u, 3u, 5u, 17u}) {
          for (size_t n : {1u, 2u, 3u, 7u}) out.push_back(make_packed_problem(f, rows, cols, n, seed++));
        }
      }
      out.push_back(make_packed_problem(f, 5, 13824, 2, seed++));
      out.push_back(make_packed_problem(f, 9, 512, 64, seed++));
      out.push_back(make_packed_problem(f, 3, 256, 512, seed++));
    }
    // I2_S rows of 128 * odd columns (a half block at the end).
    out.push_back(make_packed_problem(PackedFormat::kI2_S, 7, 384, 3, seed++));
    return out;
  }();
  return problems;
}
}  // namespace trix::test
#endif

HWY_BEFORE_NAMESPACE();
namespace trix::cpu {
namespace HWY_NAMESPACE {

// The generated kernel for the problem's format (TQ1_0 runs the TQ2_0
// kernels: their specs list it in prepared_from).
void RunGemv(const test::PackedProblem& p, const PackedMatmulArgs& a, size_t g0, size_t g1) {
  switch (p.format) {
    case test::PackedFormat::kTQ2_0:
    case test::PackedFormat::kTQ1_0: return gemv_packed_tq2_0_q8_k(a, g0, g1);
    case test::PackedFormat::kI2_S: return gemv_packed_i2_s_i8_s(a, g0, g1);
  }
}
void RunGemm(const test::PackedProblem& p, const PackedMatmulArgs& a, size_t g0, size_t g1) {
  switch (p.format) {
    case test::PackedFormat::kTQ2_0:
    case test::PackedFormat::kTQ1_0: return gemm_packed_tq2_0_q8_k(a, g0, g1);
    case test::PackedFormat::kI2_S: return gemm_packed_i2_s_i8_s(a, g0, g1);
  }
}
// The accuracy contract of that kernel's spec.
kernels::Accuracy GemvContract(const test::PackedProblem& p) {
  return p.format == test::PackedFormat::kI2_S ? kernels::gemv_packed_i2_s_i8_s::kAccuracy
                                               : kernels::gemv_packed_tq2_0_q8_k::kAccuracy;
}
kernels::Accuracy GemmContract(const test::PackedProblem& p) {
  return p.format == test::PackedFormat::kI2_S ? kernels::gemm_packed_i2_s_i8_s::kAccuracy
                                               : kernels::gemm_packed_tq2_0_q8_k::kAccuracy;
}

void TestPackedGemvMatchesReference() {
  for (const auto& p : test::packed_problems()) {
    std::vector<float> got(p.rows, -1.0f);
    for (size_t t = 0; t < p.n_tok; ++t) {
      PackedMatmulArgs a = p.args(got.data());
      a.acts += t * p.act_stride;
      a.n_tok = 1;
      RunGemv(p, a, 0, a.w.n_groups());
      for (size_t r = 0; r < p.rows; ++r) {
        ASSERT_TRUE(test::meets_contract(GemvContract(p), p.want[t * p.rows + r], got[r]))
            << hwy::TargetName(HWY_TARGET) << " " << p.label << " token " << t << " row " << r;
      }
    }
  }
}

void TestPackedGemmMatchesReference() {
  for (const auto& p : test::packed_problems()) {
    std::vector<float> got(p.n_tok * p.rows, -1.0f);
    RunGemm(p, p.args(got.data()), 0, p.packed.view().n_groups());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(test::meets_contract(GemmContract(p), p.want[i], got[i]))
          << hwy::TargetName(HWY_TARGET) << " " << p.label << " token " << i / p.rows << " row "
          << i % p.rows;
    }
  }
}

// Splitting the groups (as the thread pool does) changes no bit.
void TestPackedGroupSplitsAgree() {
  const auto p = test::make_packed_problem(test::PackedFormat::kTQ2_0, 29, 512, 5, 7);
  const size_t ng = p.packed.view().n_groups();
  for (size_t split : {1u, 3u, 7u}) {
    std::vector<float> v(p.n_tok * p.rows), m(p.n_tok * p.rows);
    RunGemm(p, p.args(m.data()), 0, split);
    RunGemm(p, p.args(m.data()), split, ng);
    PackedMatmulArgs a = p.args(v.data());
    a.n_tok = 1;
    RunGemv(p, a, split, ng);
    RunGemv(p, a, 0, split);
    for (size_t i = 0; i < p.n_tok * p.rows; ++i) {
      ASSERT_TRUE(test::same_bits(p.want[i], m[i])) << split << " " << i;
    }
    for (size_t r = 0; r < p.rows; ++r) ASSERT_TRUE(test::same_bits(p.want[r], v[r])) << split;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace trix::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace trix::cpu {
HWY_BEFORE_TEST(PackedTernaryTest);
HWY_EXPORT_AND_TEST_P(PackedTernaryTest, TestPackedGemvMatchesReference);
HWY_EXPORT_AND_TEST_P(PackedTernaryTest, TestPackedGemmMatchesReference);
HWY_EXPORT_AND_TEST_P(PackedTernaryTest, TestPackedGroupSplitsAgree);

#if HWY_ARCH_ARM_A64
// Which NEON dot step the tests above ran, checked against what the CPU is
// known to have: tests/aarch64/run.sh sets TRIX_EXPECT_ARM_DOT_STEP per
// emulated CPU (cortex-a57: vmull, the others: sdot); a native run without
// it reads the "asimddp" flag from /proc/cpuinfo, a source independent of
// the getauxval() probe under test.
TEST(PackedTernaryTargets, ReportsArmDotStep) {
  const char* step = arm_has_dotprod() ? "sdot" : "vmull";
  std::printf("aarch64 NEON dot step: %s\n", step);
  std::string want;
  if (const char* env = std::getenv("TRIX_EXPECT_ARM_DOT_STEP"); env && *env) {
    want = env;
  } else {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line) && want.empty()) {
      if (line.rfind("Features", 0) == 0) want = (line + " ").find(" asimddp ") != std::string::npos ? "sdot" : "vmull";
    }
    ASSERT_FALSE(want.empty()) << "set TRIX_EXPECT_ARM_DOT_STEP (no Features line in /proc/cpuinfo)";
  }
  EXPECT_EQ(step, want);
}
#endif

// The repack keeps every code and scale: unpacking gives the original TQ2_0
// blocks, the TQ2_0 form of TQ1_0 blocks, and I2_S's codes.
TEST(PackedTernaryLayout, RoundTrip) {
  using test::PackedFormat;
  for (PackedFormat f : {PackedFormat::kTQ2_0, PackedFormat::kTQ1_0, PackedFormat::kI2_S}) {
    const auto p = test::make_packed_problem(f, 7, 768, 1, 3);
    const PackedTernaryView& v = p.packed.view();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % 64, 0u);
    EXPECT_EQ(v.group_bytes() % 64, 0u);
    for (size_t r = 0; r < p.rows; ++r) {
      for (size_t b = 0; b < v.n_blocks; ++b) {
        const BlockTQ2_0 got = unpack_block(v, r, b);
        const uint8_t* raw = p.raw.data() + r * p.raw_row_bytes;
        if (f == PackedFormat::kTQ2_0) {
          const auto& want = reinterpret_cast<const BlockTQ2_0*>(raw)[b];
          ASSERT_EQ(std::memcmp(got.qs, want.qs, 64), 0) << r << " " << b;
          ASSERT_EQ(got.d, want.d);
        } else if (f == PackedFormat::kTQ1_0) {
          const BlockTQ2_0 want = kernels::tq1_0_as_tq2_0(reinterpret_cast<const BlockTQ1_0*>(raw)[b]);
          ASSERT_EQ(std::memcmp(got.qs, want.qs, 64), 0) << r << " " << b;
          ASSERT_EQ(got.d, want.d);
        } else {
          for (size_t e = 0; e < 256; ++e) {
            const size_t byte = trix::detail::code_byte<BlockTQ2_0>(e);
            const uint32_t code = (got.qs[byte] >> trix::detail::code_shift<BlockTQ2_0>(e)) & 3u;
            ASSERT_EQ(code, i2_s_code(raw, b * 256 + e)) << r << " " << b << " " << e;
          }
        }
      }
    }
    // Padding rows of the last group hold weight 0 (code 1 everywhere).
    const uint8_t* last = v.group(v.n_groups() - 1);
    for (size_t i = p.rows % 4; i < 4 && p.rows % 4 != 0; ++i) {
      for (size_t j = 0; j < 64; ++j) ASSERT_EQ(last[i * 64 + j], 0x55);
    }
  }
}
}  // namespace trix::cpu
#endif
