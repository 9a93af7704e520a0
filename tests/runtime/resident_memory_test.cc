// Resident memory of a loaded model (issue 15): weights that prepare_model
// copies (ternary repacked to packed4, Q6_K rows moved to huge pages) leave
// the file mapping's resident pages, so the process holds one copy of each
// weight, not the file's and the prepared one. Measured from the kernel's
// own accounting: the Rss of the file's mapping in /proc/self/smaps.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "trix/convert/synthetic_bitnet.h"
#include "trix/core/thread_pool.h"
#include "trix/runtime/decoder.h"
#include "trix/runtime/loader.h"

namespace {

namespace fs = std::filesystem;

// Resident bytes of this process's mappings of `path` (0 when not mapped).
uint64_t mapping_rss(const fs::path& path) {
  std::ifstream smaps("/proc/self/smaps");
  const std::string want = fs::canonical(path).string();
  std::string line;
  bool in_file = false;
  uint64_t kib = 0;
  while (std::getline(smaps, line)) {
    // A mapping's header: "start-end perms offset dev inode   pathname".
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < 17) {
      in_file = line.size() >= want.size() && line.compare(line.size() - want.size(), want.size(), want) == 0;
    } else if (in_file && line.rfind("Rss:", 0) == 0) {
      std::istringstream in(line.substr(4));
      uint64_t v = 0;
      in >> v;
      kib += v;
    }
  }
  return kib * 1024;
}

class ResidentMemory : public ::testing::TestWithParam<trix::FormatId> {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() /
            ("trix_rss_" + std::string(trix::format_name(GetParam())) + "_" + std::to_string(::getpid()) + ".gguf");
    auto o = trix::SyntheticBitnetOptions::small(GetParam());
    o.dim = 1024;  // large enough that page rounding at tensor edges is noise
    o.ffn_hidden = 2816;
    o.n_heads = 8;
    o.vocab_size = 4096;
    trix::ThreadPool pool(2);
    trix::write_synthetic_bitnet(o, path_, pool);
  }
  void TearDown() override { fs::remove(path_); }
  fs::path path_;
};

TEST_P(ResidentMemory, PreparedWeightsLeaveTheMapping) {
  const uint64_t file_bytes = fs::file_size(path_);
  const trix::LoadedModel m = trix::load_model(path_);
  // Still mapped: norms, metadata, the tokenizer's strings. Without the
  // release the repack alone touched every page (about file_bytes).
  const uint64_t after_load = mapping_rss(path_);
  std::printf("file %llu bytes, mapping resident after load %llu bytes\n",
              static_cast<unsigned long long>(file_bytes), static_cast<unsigned long long>(after_load));
  EXPECT_LT(after_load, file_bytes / 20);

  // Decoding reads the prepared copies, and the tied embedding's rows from
  // the output's copy: the mapping does not fill up again.
  trix::ThreadPool pool(2);
  trix::Decoder<trix::RuntimeShape> dec(trix::RuntimeShape::from(m.config), m.prepared, pool,
                                        trix::KvType::F32, 64, 32);
  const std::vector<int32_t> tokens = {1, 7, 300, 4000, 42};
  dec.prefill(tokens);
  for (int i = 0; i < 4; ++i) dec.decode(static_cast<int32_t>(100 + i));
  const uint64_t after_decode = mapping_rss(path_);
  EXPECT_LT(after_decode, file_bytes / 20) << "after decoding";
}

INSTANTIATE_TEST_SUITE_P(Formats, ResidentMemory,
                         ::testing::Values(trix::FormatId::TQ2_0, trix::FormatId::TQ1_0, trix::FormatId::I2_S),
                         [](const auto& info) { return std::string(trix::format_name(info.param)); });

}  // namespace
