// Locates ../shared (models, golden vectors) for tests. The path comes from
// $TRIX_SHARED_DIR, else from the compile-time default next to the checkout.
// When the data is missing a test skips with a clear message, except under
// CI (CI=true), where ../shared always exists and a skip would hide a break.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace trix::test {

inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("TRIX_SHARED_DIR"); env && *env) return env;
  return TRIX_DEFAULT_SHARED_DIR;
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

}  // namespace trix::test

// Sets `var` to the path of `rel` under the shared directory, or skips the
// test (fails it under CI) when the file does not exist.
#define TRIX_REQUIRE_SHARED_FILE(var, rel)                                          \
  const std::filesystem::path var = ::trix::test::shared_dir() / (rel);             \
  if (!std::filesystem::exists(var)) {                                              \
    if (::trix::test::running_in_ci()) {                                            \
      FAIL() << "missing shared data " << var << " (CI must have ../shared)";     \
    }                                                                               \
    GTEST_SKIP() << "shared data not found: " << var                               \
                 << " (set TRIX_SHARED_DIR to the folder holding models/ and testdata/)"; \
  }
