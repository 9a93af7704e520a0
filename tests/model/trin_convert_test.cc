// TRIN + model spec -> GGUF: exact TQ2_0 round trip, q/k permutation,
// base GGUF copy, scales, and one-line errors for malformed input.
#include "trix/convert/trin_to_gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <istream>
#include <streambuf>
#include <random>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "common/expect_error.h"
#include "common/files.h"
#include "trix/core/fp16.h"
#include "trix/formats/tq2_0.h"
#include "trix/io/trin.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"
#include "trix/models/tinyllama_1_1b_shape.h"

namespace {

namespace fs = std::filesystem;

// A 2-layer, 256-dim llama: TinyLlama's generated shape (its tensor list,
// untied output, flags) with small dimensions.
struct Tiny2L : trix::models::TinyLlama1_1BShape {
  static constexpr char kName[] = "tiny2l";
  static constexpr int64_t dim = 256;
  static constexpr int64_t ffn_dim = 512;
  static constexpr int64_t n_layers = 2;
  static constexpr int64_t n_heads = 4;
  static constexpr int64_t n_kv_heads = 2;
  static constexpr int64_t vocab = 64;
  static constexpr int64_t context = 128;
  static constexpr int64_t head_dim = dim / n_heads;
};

class TrinConvert : public trix::test::TempDirTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(TempDirTest::SetUp());
    desc_ = trix::trin_model_desc<Tiny2L>();
    std::mt19937 rng(7);
    for (const auto& l : desc_.ternary) {
      std::vector<int8_t> v(l.rows * l.cols);
      for (auto& x : v) x = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
      values_.push_back(std::move(v));
    }
  }

  fs::path write_trin(const std::string& name, size_t drop_tail = 0, size_t skip_last_tensors = 0) {
    std::vector<trix::TrinTensorView> views;
    for (size_t i = 0; i + skip_last_tensors < desc_.ternary.size(); ++i) {
      const auto& l = desc_.ternary[i];
      views.push_back({l.name, l.rows, l.cols, values_[i]});
    }
    std::vector<uint8_t> bytes = trix::encode_trin(views);
    bytes.resize(bytes.size() - drop_tail);
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                             static_cast<std::streamsize>(bytes.size()));
    return p;
  }

  // Dequantized GGUF tensor == d * TRIN value at the (permuted) source row.
  void expect_exact(const trix::GgufReader& r, size_t i, float d) {
    const auto& l = desc_.ternary[i];
    const trix::GgufTensor* t = r.find_tensor(l.name);
    ASSERT_NE(t, nullptr) << l.name;
    ASSERT_EQ(t->format, trix::FormatId::TQ2_0) << l.name;
    ASSERT_EQ(t->ne[0], l.cols);
    ASSERT_EQ(t->ne[1], l.rows);
    std::vector<float> deq(l.rows * l.cols);
    trix::dequantize_row_tq2_0(reinterpret_cast<const trix::BlockTQ2_0*>(t->data), deq.data(), deq.size());
    const uint64_t hd = l.rope_heads ? l.rows / l.rope_heads : 0;
    for (uint64_t r0 = 0; r0 < l.rows; ++r0) {
      uint64_t src = r0;
      if (l.rope_heads) {  // llama.cpp: reshape(heads, 2, hd/2, cols).swapaxes(1, 2)
        const uint64_t h = r0 / hd, k = r0 % hd;
        src = h * hd + (k % 2) * (hd / 2) + k / 2;
      }
      for (uint64_t c = 0; c < l.cols; ++c) {
        ASSERT_EQ(deq[r0 * l.cols + c], d * static_cast<float>(values_[i][src * l.cols + c]))
            << l.name << " row " << r0 << " col " << c;
      }
    }
  }

  trix::TrinModelDesc desc_;
  std::vector<std::vector<int8_t>> values_;
};

TEST_F(TrinConvert, DescriptionFollowsTheSeedsModuleOrder) {
  ASSERT_EQ(desc_.ternary.size(), 2u * 7u + 1u);
  const char* want[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  for (int l = 0; l < 2; ++l) {
    for (int k = 0; k < 7; ++k) {
      EXPECT_EQ(desc_.ternary[l * 7 + k].name, "blk." + std::to_string(l) + "." + want[k] + ".weight");
    }
  }
  EXPECT_EQ(desc_.ternary.back().name, "output.weight");
  EXPECT_EQ(desc_.ternary[0].rope_heads, 4u);
  EXPECT_EQ(desc_.ternary[1].rope_heads, 2u);
  EXPECT_EQ(desc_.ternary[1].rows, 128u);
  EXPECT_EQ(desc_.ternary[6].rows, 256u);
  EXPECT_EQ(desc_.ternary[6].cols, 512u);
  EXPECT_EQ(desc_.other_tensors.size(), 1u + 2u * 2u + 1u);
  const auto no_out = trix::trin_model_desc<Tiny2L>({.output_in_trin = false, .permute_qk = false});
  EXPECT_EQ(no_out.ternary.size(), 14u);
  EXPECT_EQ(no_out.ternary[0].rope_heads, 0u);
  EXPECT_EQ(no_out.other_tensors.back(), "output.weight");
  // The real specs: TinyLlama has 22 * 7 + lm_head; BitNet ties its output.
  EXPECT_EQ(trix::trin_model_desc_by_name("tinyllama_1_1b").ternary.size(), 22u * 7u + 1u);
  EXPECT_EQ(trix::trin_model_desc_by_name("bitnet_b1_58_2b_4t").ternary.size(), 30u * 7u);
  EXPECT_EQ(trix::trin_model_desc_by_name("bitnet_b1_58_2b_4t").ternary[0].rope_heads, 0u);  // NeoX rope
}

TEST_F(TrinConvert, NoBaseExactRoundTrip) {
  const fs::path trin = write_trin("w.trin");
  const fs::path out = dir_ / "out.gguf";
  trix::TrinConvertOptions opt;
  opt.scales = trix::parse_trin_scales("# scales\nblk.0.attn_q.weight 0.375\n\noutput.weight 2.5e-3  # comment\n",
                                       "s.txt");
  opt.scale = 0.0234375f;  // exact in f16
  const auto rep = trix::convert_trin_to_gguf(desc_, trin, out, opt);
  EXPECT_EQ(rep.ternary_tensors, 15u);
  EXPECT_EQ(rep.copied_tensors, 0u);
  EXPECT_EQ(rep.scales_rounded, 1u);  // 2.5e-3 is not an f16
  EXPECT_FALSE(rep.runnable);
  const trix::GgufReader r = trix::GgufReader::open(out);
  EXPECT_EQ(r.tensors().size(), 15u);
  EXPECT_EQ(r.get_string("general.architecture"), "llama");
  EXPECT_EQ(r.get_u32("llama.embedding_length"), 256u);
  EXPECT_EQ(r.get_u32("llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(r.get_u32("llama.block_count"), 2u);
  for (size_t i = 0; i < desc_.ternary.size(); ++i) {
    float d = 0.0234375f;
    if (i == 0) d = 0.375f;
    if (i == desc_.ternary.size() - 1) d = trix::fp16_to_fp32(trix::fp32_to_fp16(2.5e-3f));
    expect_exact(r, i, d);
  }
}

TEST_F(TrinConvert, BaseSuppliesTokenizerAndNonTernaryTensors) {
  // Base: every tensor as F32 "original" weights, plus a tokenizer.
  const fs::path base = dir_ / "base.gguf";
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::map<std::string, std::vector<float>> data;
  {
    trix::GgufWriter w(base);
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.embedding_length", 256);
    w.set_u32("llama.block_count", 2);
    w.set("tokenizer.ggml.tokens", trix::GgufValue::array(std::vector<std::string>(64, "x")));
    auto add = [&](const std::string& n, uint64_t ne0, uint64_t ne1) {
      w.add_tensor(n, trix::FormatId::F32, {ne0, ne1});
      auto& v = data[n];
      v.resize(ne0 * ne1);
      for (auto& x : v) x = nd(rng);
    };
    add("token_embd.weight", 256, 64);
    for (const auto& l : desc_.ternary) add(l.name, l.cols, l.rows);
    for (const auto& n : desc_.other_tensors) {
      if (!data.count(n)) add(n, 256, 1);
    }
    add("rope_freqs.weight", 32, 1);  // not in the spec: copied too
    // Data in declaration order.
    w.write_tensor_data(std::span<const float>(data["token_embd.weight"]));
    for (const auto& l : desc_.ternary) w.write_tensor_data(std::span<const float>(data[l.name]));
    for (const auto& n : desc_.other_tensors) {
      if (n != "token_embd.weight") w.write_tensor_data(std::span<const float>(data[n]));
    }
    w.write_tensor_data(std::span<const float>(data["rope_freqs.weight"]));
    w.finish();
  }
  const fs::path trin = write_trin("w.trin");
  const fs::path out = dir_ / "out.gguf";
  trix::TrinConvertOptions opt;
  opt.base = base;
  opt.scale_from_base = true;
  const auto rep = trix::convert_trin_to_gguf(desc_, trin, out, opt);
  EXPECT_TRUE(rep.runnable);
  EXPECT_EQ(rep.ternary_tensors, 15u);
  EXPECT_EQ(rep.copied_tensors, desc_.other_tensors.size() + 1);
  const trix::GgufReader r = trix::GgufReader::open(out);
  EXPECT_EQ(r.tensors().size(), 15u + desc_.other_tensors.size() + 1);
  EXPECT_EQ(r.get_array<std::string>("tokenizer.ggml.tokens").size(), 64u);
  EXPECT_EQ(r.tensors().front().name, "token_embd.weight");  // spec order
  for (const char* n : {"token_embd.weight", "blk.1.ffn_norm.weight", "output_norm.weight", "rope_freqs.weight"}) {
    const trix::GgufTensor* t = r.find_tensor(n);
    ASSERT_NE(t, nullptr) << n;
    ASSERT_EQ(t->format, trix::FormatId::F32);
    ASSERT_EQ(t->nbytes, data[n].size() * 4);
    EXPECT_EQ(std::memcmp(t->data, data[n].data(), t->nbytes), 0) << n;
  }
  // Trinity's scale: std(original) / std(ternary), then f16.
  for (size_t i = 0; i < desc_.ternary.size(); ++i) {
    auto var = [](const auto& v) {
      double m = 0, s = 0;
      for (auto x : v) m += x;
      m /= static_cast<double>(v.size());
      for (auto x : v) s += (x - m) * (x - m);
      return s / static_cast<double>(v.size());
    };
    const float scale = static_cast<float>(std::sqrt(var(data[desc_.ternary[i].name]) / var(values_[i])));
    expect_exact(r, i, trix::fp16_to_fp32(trix::fp32_to_fp16(scale)));
  }
}

using trix::test::error_of;

TEST_F(TrinConvert, MalformedTrinAndShapeMismatch) {
  trix::TrinConvertOptions opt;
  opt.scale = 1.0f;
  const fs::path out = dir_ / "out.gguf";
  // Truncated payload: names the file, the last tensor and the offset.
  const fs::path cut = write_trin("cut.trin", 1);
  std::string m = error_of([&] { trix::convert_trin_to_gguf(desc_, cut, out, opt); });
  EXPECT_NE(m.find("cut.trin"), std::string::npos) << m;
  EXPECT_NE(m.find("output.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("truncated payload"), std::string::npos) << m;
  // One tensor short (the TRIN without lm_head): truncated length prefix.
  const fs::path short_file = write_trin("short.trin", 0, 1);
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, short_file, out, opt); });
  EXPECT_NE(m.find("'output.weight' (15 of 15)"), std::string::npos) << m;
  // ... which converts with output_in_trin = false once a base provides output.
  // Shape mismatch: the spec says 512 columns for ffn_down, the file 256.
  auto other = desc_;
  other.ternary[6].cols = 256;
  m = error_of([&] { trix::convert_trin_to_gguf(other, write_trin("w.trin"), out, opt); });
  EXPECT_NE(m.find("blk.0.ffn_down.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("length prefix says"), std::string::npos) << m;
  // Rows that are not whole TQ2_0 blocks.
  other = desc_;
  other.ternary[3].cols = 200;
  m = error_of([&] { trix::convert_trin_to_gguf(other, write_trin("w.trin"), out, opt); });
  EXPECT_NE(m.find("not a multiple of 256"), std::string::npos) << m;
  m = error_of([&] { trix::convert_trin_to_gguf(trix::trin_model_desc_by_name("stories260k"), cut, out, opt); });
  EXPECT_NE(m.find("not a multiple of 256"), std::string::npos) << m;
  // Wrong magic.
  { std::ofstream(dir_ / "bad.trin", std::ios::binary) << "TRIX"; }
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, dir_ / "bad.trin", out, opt); });
  EXPECT_NE(m.find("expected magic"), std::string::npos) << m;
}

TEST_F(TrinConvert, ScaleAndBaseErrors) {
  const fs::path trin = write_trin("w.trin");
  const fs::path out = dir_ / "out.gguf";
  trix::TrinConvertOptions opt;
  std::string m = error_of([&] { trix::convert_trin_to_gguf(desc_, trin, out, opt); });
  EXPECT_NE(m.find("'blk.0.attn_q.weight': no scale"), std::string::npos) << m;
  m = error_of([&] { trix::parse_trin_scales("a 1\nb x\n", "s.txt"); });
  EXPECT_NE(m.find("s.txt:2:"), std::string::npos) << m;
  m = error_of([&] { trix::parse_trin_scales("a 1 2\n", "s.txt"); });
  EXPECT_NE(m.find("s.txt:1:"), std::string::npos) << m;
  m = error_of([&] { trix::parse_trin_scales("a 1\na 2\n", "s.txt"); });
  EXPECT_NE(m.find("listed twice"), std::string::npos) << m;
  opt.scales = {{"blk.9.attn_q.weight", 1.0f}};
  opt.scales_file = "s.txt";
  opt.scale = 1.0f;
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, trin, out, opt); });
  EXPECT_NE(m.find("s.txt: tensor 'blk.9.attn_q.weight' is not a ternary tensor"), std::string::npos) << m;
  opt.scales.clear();
  opt.scale = 1e6f;
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, trin, out, opt); });
  EXPECT_NE(m.find("f16"), std::string::npos) << m;
  // Base of another architecture, and with a wrong shape.
  opt.scale = 1.0f;
  const fs::path base = dir_ / "base.gguf";
  {
    trix::GgufWriter w(base);
    w.set_string("general.architecture", "bitnet-b1.58");
    w.finish();
  }
  opt.base = base;
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, trin, out, opt); });
  EXPECT_NE(m.find("general.architecture is 'bitnet-b1.58'"), std::string::npos) << m;
  {
    trix::GgufWriter w(base);
    w.set_string("general.architecture", "llama");
    w.add_tensor("blk.1.attn_k.weight", trix::FormatId::F32, {256, 256});
    std::vector<float> z(256 * 256);
    w.write_tensor_data(std::span<const float>(z));
    w.finish();
  }
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, trin, out, opt); });
  EXPECT_NE(m.find("'blk.1.attn_k.weight' has ne = {256, 256}"), std::string::npos) << m;
  {
    trix::GgufWriter w(base);
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.embedding_length", 512);
    w.finish();
  }
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, trin, out, opt); });
  EXPECT_NE(m.find("llama.embedding_length"), std::string::npos) << m;
  {
    trix::GgufWriter w(base);
    w.set_string("general.architecture", "llama");
    w.finish();
  }
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, trin, out, opt); });
  EXPECT_NE(m.find("missing tensor 'token_embd.weight'"), std::string::npos) << m;
}

// The output may not be any input: refused before anything is read or
// written, the input intact. (Before trix::OutputFile, an output equal to
// the base truncated the mmapped base mid-conversion: exit 0, both corrupt.)
TEST_F(TrinConvert, OutputThatIsAnInputIsRefusedAndLeftIntact) {
  const fs::path base = dir_ / "base.gguf";
  {
    trix::GgufWriter w(base);
    w.set_string("general.architecture", "llama");
    w.set("tokenizer.ggml.tokens", trix::GgufValue::array(std::vector<std::string>(64, "x")));
    std::vector<std::vector<float>> data;
    for (const auto& n : desc_.other_tensors) {
      const uint64_t rows = n == "token_embd.weight" ? 64 : 1;
      w.add_tensor(n, trix::FormatId::F32, {256, rows});
      data.emplace_back(256 * rows, 0.5f);
    }
    for (const auto& v : data) w.write_tensor_data(std::span<const float>(v));
    w.finish();
  }
  const fs::path trin = write_trin("w.trin");
  { std::ofstream(dir_ / "scales.txt") << "blk.0.attn_q.weight 0.5\n"; }
  fs::create_symlink(base, dir_ / "base_link.gguf");
  ASSERT_EQ(::link(trin.c_str(), (dir_ / "trin_link").c_str()), 0);
  const std::string base_bytes = trix::test::read_text(base), trin_bytes = trix::test::read_text(trin);
  trix::TrinConvertOptions opt;
  opt.base = base;
  opt.scale = 1.0f;
  // Sanity: the conversion itself works with these inputs.
  trix::convert_trin_to_gguf(desc_, trin, dir_ / "out.gguf", opt);
  EXPECT_EQ(error_of([&] { trix::convert_trin_to_gguf(desc_, trin, base, opt); }),
            base.string() + ": is the same file as input '" + base.string() + "'");
  EXPECT_EQ(error_of([&] { trix::convert_trin_to_gguf(desc_, trin, dir_ / "base_link.gguf", opt); }),
            (dir_ / "base_link.gguf").string() + ": is the same file as input '" + base.string() + "'");
  EXPECT_EQ(error_of([&] { trix::convert_trin_to_gguf(desc_, trin, dir_ / "trin_link", opt); }),
            (dir_ / "trin_link").string() + ": is the same file as input '" + trin.string() + "'");
  opt.scales = trix::read_trin_scales(dir_ / "scales.txt");
  opt.scales_file = (dir_ / "scales.txt").string();
  EXPECT_EQ(error_of([&] { trix::convert_trin_to_gguf(desc_, trin, dir_ / "scales.txt", opt); }),
            opt.scales_file + ": is the same file as input '" + opt.scales_file + "'");
  EXPECT_TRUE(trix::test::read_text(base) == base_bytes) << "base changed";  // (no megabyte dumps)
  EXPECT_TRUE(trix::test::read_text(trin) == trin_bytes) << "TRIN changed";
  EXPECT_EQ(trix::test::read_text(dir_ / "scales.txt"), "blk.0.attn_q.weight 0.5\n");
  // write_trin: the same rule.
  std::vector<trix::TrinTensorView> views;
  views.push_back({desc_.ternary[0].name, desc_.ternary[0].rows, desc_.ternary[0].cols, values_[0]});
  EXPECT_EQ(error_of([&] { trix::write_trin(trin, views, {dir_ / "trin_link"}); }),
            trin.string() + ": is the same file as input '" + (dir_ / "trin_link").string() + "'");
  EXPECT_TRUE(trix::test::read_text(trin) == trin_bytes) << "TRIN changed";
}

// ---- TRIN input: bounded by the file (issue 9)

// /dev/zero used to be read until memory ran out (3 GB in 10 s) and a FIFO
// blocked forever: only regular files are read, refused at once otherwise.
TEST_F(TrinConvert, NonRegularTrinInputsAreRefusedAtOnce) {
  trix::TrinConvertOptions opt;
  opt.scale = 1.0f;
  const fs::path out = dir_ / "out.gguf";
  std::string m = error_of([&] { trix::convert_trin_to_gguf(desc_, "/dev/zero", out, opt); });
  EXPECT_EQ(m, "/dev/zero: not a regular file (a character device); a TRIN file must be one, so its size can be checked");
  const fs::path fifo = dir_ / "weights.trin";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, fifo, out, opt); });
  EXPECT_EQ(m, fifo.string() + ": not a regular file (a FIFO); a TRIN file must be one, so its size can be checked");
  m = error_of([&] { trix::convert_trin_to_gguf(desc_, dir_, out, opt); });
  EXPECT_NE(m.find("not a regular file (a directory)"), std::string::npos) << m;
  EXPECT_FALSE(fs::exists(out));
}

// Counts what the reader takes from its stream.
class CountingBuf : public std::streambuf {
 public:
  explicit CountingBuf(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {
    char* p = reinterpret_cast<char*>(bytes_.data());
    setg(p, p, p + bytes_.size());
  }
  uint64_t bytes_read = 0;

 protected:
  std::streamsize xsgetn(char* s, std::streamsize n) override {
    const std::streamsize got = std::streambuf::xsgetn(s, n);
    bytes_read += static_cast<uint64_t>(got);
    return got;
  }
  int_type underflow() override { return traits_type::eof(); }
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
    const off_type base = dir == std::ios_base::beg ? 0 : dir == std::ios_base::cur ? gptr() - eback() : egptr() - eback();
    return seekpos(pos_type(base + off), std::ios_base::in);
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode) override {
    setg(eback(), eback() + off_type(pos), egptr());
    return pos;
  }

 private:
  std::vector<uint8_t> bytes_;
};

// The file used to be read whole (a 258 MB TRIN cost 497 MB). Opening now
// reads the magic and the length prefixes only; read(i) reads tensor i alone.
TEST_F(TrinConvert, ReaderReadsOneTensorAtATime) {
  std::vector<trix::TrinTensorView> views;
  std::vector<trix::TrinTensorSpec> specs;
  for (size_t i = 0; i < desc_.ternary.size(); ++i) {
    const auto& l = desc_.ternary[i];
    views.push_back({l.name, l.rows, l.cols, values_[i]});
    specs.push_back({l.name, l.rows, l.cols, 1.0f});
  }
  const std::vector<uint8_t> bytes = trix::encode_trin(views);
  CountingBuf buf(bytes);
  std::istream in(&buf);
  trix::TrinReader r(in, "counted.trin", specs);
  ASSERT_EQ(r.size(), specs.size());
  EXPECT_EQ(r.file_size(), bytes.size());
  EXPECT_EQ(buf.bytes_read, 4 + 4 * specs.size());  // magic + length prefixes
  for (size_t i : {size_t{5}, size_t{0}, specs.size() - 1}) {
    const uint64_t before = buf.bytes_read;
    const trix::TrinTensor t = r.read(i);
    const uint64_t payload = (specs[i].rows * specs[i].cols + 3) / 4;
    EXPECT_EQ(buf.bytes_read - before, payload) << specs[i].name;
    EXPECT_EQ(t.packed.size(), payload);
    EXPECT_EQ(t.values(), values_[i]) << specs[i].name;
  }
  // A code 3 is found when its tensor is read, and named with its offset.
  std::vector<uint8_t> bad = bytes;
  const uint64_t off = r.payload_offset(2);
  bad[off + 1] |= 0xc0;
  trix::TrinReader rb = trix::TrinReader::from_memory(bad, "bad.trin", specs);
  EXPECT_NO_THROW((void)rb.read(1));
  const std::string m = error_of([&] { (void)rb.read(2); });
  EXPECT_NE(m.find("bad.trin: at byte offset " + std::to_string(off + 1) + ": tensor '" + specs[2].name), std::string::npos)
      << m;
  EXPECT_NE(m.find("code 3"), std::string::npos) << m;
}

}  // namespace
