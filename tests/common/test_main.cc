// main() of every TriX test binary (linked by trix_add_test instead of
// GTest::gtest_main). Under CI (CI=true) a skipped test is a failure: CI
// always has ../shared and every backend the tests emulate, so a skip there
// means a check silently did not run. Locally a skip stays a skip.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/shared_data.h"

namespace {

// Records every skipped test as it ends, so the report names them all.
class SkipRecorder : public ::testing::EmptyTestEventListener {
 public:
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result() != nullptr && info.result()->Skipped()) {
      skipped_.push_back(std::string(info.test_suite_name()) + "." + info.name());
    }
  }
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::vector<std::string> skipped_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto* recorder = new SkipRecorder;  // owned by gtest's listener list
  ::testing::UnitTest::GetInstance()->listeners().Append(recorder);
  const int rc = RUN_ALL_TESTS();
  if (!trix::test::running_in_ci() || recorder->skipped().empty()) return rc;
  std::fprintf(stderr, "error: %zu test(s) skipped under CI=true (a skip hides a check):\n",
               recorder->skipped().size());
  for (const std::string& name : recorder->skipped()) std::fprintf(stderr, "  SKIPPED %s\n", name.c_str());
  return 1;
}
