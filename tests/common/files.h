// Files for tests: whole-file reads, and a fixture with a fresh directory of
// its own per test.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <system_error>
#include <vector>

namespace trix::test {

// The bytes of the file ("" / {} when it cannot be read).
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// dir_: a new directory <gtest TempDir>/trix_<test name>_XXXXXX made for
// each test and removed, with all it holds, after it.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = "trix_";
    name += ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) {
      if (c == '/') c = '_';  // parameterized tests are Name/N
    }
    name += "_XXXXXX";
    std::string pattern = (std::filesystem::path(::testing::TempDir()) / name).string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << pattern;
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path path(const std::string& name) const { return dir_ / name; }
  // Names in the directory, hidden ones (temporaries) included.
  std::set<std::string> names() const {
    std::set<std::string> n;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) n.insert(e.path().filename().string());
    return n;
  }

  std::filesystem::path dir_;
};

}  // namespace trix::test
