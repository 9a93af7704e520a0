// The two checks every per-target GEMV test makes, written once. They are
// called from inside each Highway target's namespace (hwy_gtest's
// HWY_EXPORT_AND_TEST_P runs the test once per target the CPU supports);
// the caller adds the target's name to the message.
//   rows_meet_contract: each problem's rows as the kernel computes them
//     against the reference row, under the kernel spec's accuracy contract.
//   row_splits_agree:   the rows computed in one range and in two ranges
//     split anywhere (as a thread pool splits them) agree bit for bit.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <vector>

#include "common/bits.h"
#include "common/kernel_accuracy.h"
#include "trix/kernels/accuracy.h"

namespace trix::test {

// Row r of a problem's weights p.w, rows of p.k elements (in blocks of
// kElements, or one element each).
template <class Problem>
auto row_of(const Problem& p, size_t r) {
  using W = typename decltype(p.w)::value_type;
  size_t per_row = p.k;
  if constexpr (requires { W::kElements; }) per_row = p.k / W::kElements;
  return p.w.data() + r * per_row;
}

// gemv(args, begin, end) writes rows [begin, end) of p.args(y); the
// reference of row r is row_ref(row_of(p, r), p.x.data(), p.k). A problem
// has rows, k, w, x, label and args(y).
template <class Problem, class Gemv, class RowRef>
::testing::AssertionResult rows_meet_contract(const kernels::Accuracy& contract,
                                              const std::vector<Problem>& problems, Gemv gemv, RowRef row_ref) {
  for (const Problem& p : problems) {
    std::vector<float> got(p.rows, -1.0f);
    gemv(p.args(got.data()), size_t{0}, p.rows);
    for (size_t r = 0; r < p.rows; ++r) {
      ::testing::AssertionResult ok = meets_contract(contract, row_ref(row_of(p, r), p.x.data(), p.k), got[r]);
      if (!ok) return ok << " (" << p.label << " row " << r << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// run(y, begin, end) writes rows [begin, end) of y, one of `rows` floats.
template <class Run>
::testing::AssertionResult row_splits_agree(size_t rows, std::initializer_list<size_t> splits, Run run) {
  std::vector<float> whole(rows), parts(rows);
  run(whole.data(), size_t{0}, rows);
  for (size_t split : splits) {
    run(parts.data(), size_t{0}, split);
    run(parts.data(), split, rows);
    for (size_t r = 0; r < rows; ++r) {
      if (!same_bits(whole[r], parts[r])) {
        return ::testing::AssertionFailure() << "rows [0, " << split << ") + [" << split << ", " << rows
                                             << "): row " << r << " is " << parts[r] << ", in one range "
                                             << whole[r];
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace trix::test
