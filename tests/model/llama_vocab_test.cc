// llama.cpp's tokenizer test suite (tests/test-tokenizer-0.cpp) over the
// vocabulary-only GGUFs in ../shared/testdata/llama-vocab: every case of
// every file must give llama.cpp's ids (no BOS/EOS, specials not parsed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "trix/io/gguf_reader.h"
#include "trix/text/tokenizer.h"

namespace trix {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The .inp cases, split as llama.cpp's test does.
std::vector<std::string> read_cases(const std::filesystem::path& p) {
  const std::string raw = read_file(p);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      out.push_back(raw.substr(pos));
      break;
    }
    out.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return out;
}

// The .out lines: space-separated ids, one line per case.
std::vector<std::vector<int32_t>> read_expected(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::vector<std::vector<int32_t>> out;
  for (std::string line; std::getline(f, line);) {
    std::istringstream is(line);
    std::vector<int32_t> ids;
    for (int32_t id; is >> id;) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::string ids_text(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

TEST(LlamaVocab, EveryCaseOfEveryFile) {
  TRIX_REQUIRE_SHARED_FILE(dir, "testdata/llama-vocab");
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".gguf") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 7u) << "expected llama.cpp's vocabularies in " << dir;
  size_t total = 0, total_passed = 0;
  for (const auto& gguf : files) {
    const std::string name = gguf.filename().string();
    SCOPED_TRACE(name);
    const auto cases = read_cases(gguf.string() + ".inp");
    const auto expected = read_expected(gguf.string() + ".out");
    ASSERT_EQ(cases.size(), expected.size()) << "cases in .inp vs lines in .out";
    ASSERT_FALSE(cases.empty());
    size_t passed = 0;
    try {
      const Tokenizer tok = Tokenizer::from_gguf(GgufReader::open(gguf.string()));
      for (size_t i = 0; i < cases.size(); ++i) {
        const auto got = tok.encode(cases[i], /*add_special=*/false, /*parse_special=*/false);
        if (got == expected[i]) {
          ++passed;
        } else {
          ADD_FAILURE() << "case " << i << " \"" << cases[i] << "\"\n  expected: " << ids_text(expected[i])
                        << "\n  got:      " << ids_text(got);
        }
      }
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
    std::printf("llama-vocab %-32s %zu/%zu\n", name.c_str(), passed, cases.size());
    total += cases.size();
    total_passed += passed;
  }
  std::printf("llama-vocab total %zu/%zu\n", total_passed, total);
}

}  // namespace
}  // namespace trix
