// trix-quantize: format selection, streaming conversion (bytes equal to the
// scalar quantizers for any thread count and chunk size), GGUF output that
// the reader loads, the TQ2_0 fast path, edge cases, and the tool itself
// (raw mode against ggml's golden bytes, GGUF mode, error messages).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/shared_data.h"
#include "trix/core/fp16.h"
#include "trix/formats/tq2_0_fast.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"
#include "trix/convert/quantize.h"

namespace trix {
namespace {

namespace fs = std::filesystem;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

using trix::test::read_bytes;

void write_file(const fs::path& p, const void* data, size_t n) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  ASSERT_TRUE(out.good()) << p;
}

std::span<const uint8_t> as_bytes(const std::vector<float>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)};
}

// Reference: the formats' scalar quantizers called directly on all rows.
std::vector<uint8_t> reference_bytes(FormatId f, const std::vector<float>& x, uint64_t rows, uint64_t cols) {
  std::vector<uint8_t> out(tensor_nbytes(f, rows, cols));
  switch (f) {
    case FormatId::TQ2_0:
      quantize_row_tq2_0(x.data(), reinterpret_cast<BlockTQ2_0*>(out.data()), x.size());
      break;
    case FormatId::TQ1_0:
      quantize_row_tq1_0(x.data(), reinterpret_cast<BlockTQ1_0*>(out.data()), x.size());
      break;
    case FormatId::Q8_0:
      quantize_row_q8_0(x.data(), reinterpret_cast<BlockQ8_0*>(out.data()), x.size());
      break;
    case FormatId::Q8_K:
      quantize_row_q8_k(x.data(), reinterpret_cast<BlockQ8_K*>(out.data()), x.size());
      break;
    case FormatId::Q4_K:
      quantize_row_q4_k(x.data(), reinterpret_cast<BlockQ4_K*>(out.data()), x.size());
      break;
    case FormatId::Q6_K:
      quantize_row_q6_k(x.data(), reinterpret_cast<BlockQ6_K*>(out.data()), x.size());
      break;
    case FormatId::I2_S:
      quantize_i2_s(x.data(), rows, cols, out.data());
      break;
    case FormatId::F16:
      quantize_row_f16(x.data(), reinterpret_cast<uint16_t*>(out.data()), x.size());
      break;
    case FormatId::BF16:
      quantize_row_bf16(x.data(), reinterpret_cast<uint16_t*>(out.data()), x.size());
      break;
    case FormatId::F32:
      std::memcpy(out.data(), x.data(), out.size());
      break;
    default:
      ADD_FAILURE() << "no reference for " << format_info(f).name;
  }
  return out;
}

std::vector<uint8_t> convert(const std::vector<float>& x, uint64_t rows, uint64_t cols, FormatId f,
                             size_t threads, size_t chunk_elements = kDefaultChunkElements) {
  ThreadPool pool(threads);
  std::vector<uint8_t> out;
  quantize_tensor(as_bytes(x), FormatId::F32, rows, cols, f, pool,
                  [&](std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }, {},
                  "test", chunk_elements);
  return out;
}

constexpr FormatId kQuantFormats[] = {FormatId::TQ2_0, FormatId::TQ1_0, FormatId::Q8_0, FormatId::Q8_K,
                                      FormatId::Q4_K,  FormatId::Q6_K,  FormatId::I2_S, FormatId::F16,
                                      FormatId::BF16,  FormatId::F32};

// Inputs that exercise every special path of the quantizers: zeros, ties,
// tiny and huge scales, NaN and inf in various positions.
std::vector<float> edge_rows(size_t cols, size_t rows) {
  std::vector<float> x = random_floats(cols * rows, 99);
  auto row = [&](size_t r) { return x.data() + r * cols; };
  if (rows > 0) std::fill(row(0), row(0) + cols, 0.0f);  // all-zero row
  if (rows > 1) {
    for (size_t i = 0; i < cols; ++i) row(1)[i] = (i % 3 == 0) ? 0.5f : (i % 3 == 1 ? -0.5f : 1.0f);
  }
  if (rows > 2) {
    for (size_t i = 0; i < cols; ++i) row(2)[i] *= 1e-39f;  // subnormal scale: 1/d overflows
  }
  if (rows > 3) {
    row(3)[7] = kNaN;
    row(3)[cols - 1] = kNaN;
  }
  if (rows > 4) row(4)[100 % cols] = kInf;
  if (rows > 5) {
    row(5)[3] = -kInf;
    row(5)[200 % cols] = kNaN;
  }
  if (rows > 6) {
    for (size_t i = 0; i < cols; ++i) row(6)[i] = (i % 2 ? -1.0f : 1.0f) * 3.0e38f;
  }
  if (rows > 7) {
    for (size_t i = 0; i < cols; ++i) row(7)[i] = (i % 5) ? -0.0f : 1e-7f;  // below I2_S's 1e-6
  }
  return x;
}

// ------------------------------------------------------------ TQ2_0 fast path

TEST(Tq2_0Fast, MatchesReferenceOnRandomInputsOfManyScales) {
  for (uint32_t seed = 0; seed < 40; ++seed) {
    const float scale = std::pow(10.0f, static_cast<float>(static_cast<int>(seed % 13) - 6));
    const size_t n = 256 * (1 + seed % 5);
    std::vector<float> x = random_floats(n, seed, scale);
    std::vector<BlockTQ2_0> ref(n / 256), fast(n / 256);
    quantize_row_tq2_0(x.data(), ref.data(), n);
    quantize_row_tq2_0_fast(x.data(), fast.data(), n);
    ASSERT_EQ(0, std::memcmp(ref.data(), fast.data(), ref.size() * sizeof(BlockTQ2_0))) << "seed " << seed;
  }
}

TEST(Tq2_0Fast, MatchesReferenceOnEdgeInputs) {
  const size_t cols = 256;
  std::vector<float> x = edge_rows(cols, 8);
  // Exact ties: values d/2 and -d/2 next to a max of d, for several d.
  for (float d : {1.0f, 3.0f, 0.1f, 1e-20f, 6.0e4f}) {
    std::vector<float> b(cols);
    for (size_t i = 0; i < cols; ++i) b[i] = (i % 4 == 0) ? d : ((i % 4 == 1) ? d / 2 : ((i % 4 == 2) ? -d / 2 : std::nextafter(d / 2, 0.0f)));
    x.insert(x.end(), b.begin(), b.end());
  }
  // A NaN first, then larger values (the reference's running max resets).
  std::vector<float> b = random_floats(cols, 5, 2.0f);
  b[0] = 5.0f;
  b[10] = kNaN;
  x.insert(x.end(), b.begin(), b.end());
  std::vector<BlockTQ2_0> ref(x.size() / cols), fast(x.size() / cols);
  quantize_row_tq2_0(x.data(), ref.data(), x.size());
  quantize_row_tq2_0_fast(x.data(), fast.data(), x.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    EXPECT_EQ(0, std::memcmp(&ref[i], &fast[i], sizeof(BlockTQ2_0))) << "block " << i;
  }
  EXPECT_THROW(quantize_row_tq2_0_fast(x.data(), fast.data(), 100), Error);
}

// ------------------------------------------------------------ names and rules

TEST(QuantizeRules, GlobMatchesWholeNames) {
  EXPECT_TRUE(glob_match("token_embd.weight", "token_embd.weight"));
  EXPECT_FALSE(glob_match("token_embd", "token_embd.weight"));
  EXPECT_TRUE(glob_match("blk.*.ffn_down.weight", "blk.12.ffn_down.weight"));
  EXPECT_FALSE(glob_match("blk.*.ffn_down.weight", "blk.12.ffn_up.weight"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*norm*", "blk.0.attn_sub_norm.weight"));
  EXPECT_TRUE(glob_match("blk.?.attn_q.weight", "blk.3.attn_q.weight"));
  EXPECT_FALSE(glob_match("blk.?.attn_q.weight", "blk.13.attn_q.weight"));
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYbc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYYbd"));
}

TEST(QuantizeRules, ParsesRulesAndNamesWithClearErrors) {
  const FormatRule r = parse_format_rule("token_embd.weight=Q8_0");
  EXPECT_EQ(r.pattern, "token_embd.weight");
  EXPECT_EQ(r.format, FormatId::Q8_0);
  EXPECT_EQ(parse_format_rule("a=b=tq1_0").pattern, "a=b");
  EXPECT_EQ(parse_format_name("TQ2_0").id, FormatId::TQ2_0);
  auto message = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { parse_format_rule("token_embd.weight"); }).find("expected PATTERN=TYPE"), std::string::npos);
  EXPECT_NE(message([] { parse_format_rule("x=q9_9"); }).find("unknown type 'q9_9' (known: bf16"), std::string::npos);
  EXPECT_NE(message([] { parse_format_rule("x=q8_k"); }).find("cannot hold weights"), std::string::npos);
  EXPECT_NE(message([] { parse_format_rule("=q8_0"); }).find("expected PATTERN=TYPE"), std::string::npos);
}

// ------------------------------------------------------------ streaming conversion

TEST(QuantizeTensor, BytesIndependentOfThreadsAndChunks) {
  const uint64_t rows = 9, cols = 512;
  const std::vector<float> x = edge_rows(cols, rows);
  for (FormatId f : kQuantFormats) {
    const std::vector<uint8_t> ref = reference_bytes(f, x, rows, cols);
    EXPECT_EQ(convert(x, rows, cols, f, 1), ref) << format_info(f).name;
    EXPECT_EQ(convert(x, rows, cols, f, 3, 1), ref) << format_info(f).name << " 3 threads, 1 row per chunk";
    EXPECT_EQ(convert(x, rows, cols, f, 2, 1500), ref) << format_info(f).name << " 2 threads, 2 rows per chunk";
  }
}

TEST(QuantizeTensor, I2SChunkedScaleIsTheWholeTensorMax) {
  // The largest value sits in the last chunk; an all-zero first chunk.
  const uint64_t rows = 6, cols = 256;
  std::vector<float> x = random_floats(rows * cols, 3, 0.5f);
  std::fill(x.begin(), x.begin() + cols, 0.0f);
  x[rows * cols - 2] = -7.25f;
  x[cols + 1] = kNaN;
  const std::vector<uint8_t> out = convert(x, rows, cols, FormatId::I2_S, 2, cols);
  EXPECT_EQ(out, reference_bytes(FormatId::I2_S, x, rows, cols));
  EXPECT_EQ(i2_s_scale(out.data(), rows, cols), 7.25f);
}

TEST(QuantizeTensor, ConvertsF16AndBf16Inputs) {
  const uint64_t rows = 3, cols = 256;
  const std::vector<float> x = random_floats(rows * cols, 11);
  for (FormatId src : {FormatId::F16, FormatId::BF16}) {
    // What the tool sees: the input tensor's own values decoded to f32.
    std::vector<uint8_t> in(tensor_nbytes(src, rows, cols));
    format_traits(src).quantize_row(x.data(), in.data(), x.size());
    std::vector<float> decoded(x.size());
    format_traits(src).dequantize_row(in.data(), decoded.data(), x.size());
    ThreadPool pool(2);
    std::vector<uint8_t> out;
    quantize_tensor(in, src, rows, cols, FormatId::TQ1_0, pool,
                    [&](std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); });
    EXPECT_EQ(out, reference_bytes(FormatId::TQ1_0, decoded, rows, cols)) << format_info(src).name;
  }
}

TEST(QuantizeTensor, AllZeroRowsGiveZeroScalesAndNoNaN) {
  const uint64_t rows = 2, cols = 256;
  const std::vector<float> x(rows * cols, 0.0f);
  ThreadPool pool(2);
  for (FormatId f : kQuantFormats) {
    const std::vector<uint8_t> q = convert(x, rows, cols, f, 2);
    std::vector<uint8_t> back;
    dequantize_tensor(q, f, rows, cols, pool,
                      [&](std::span<const uint8_t> b) { back.insert(back.end(), b.begin(), b.end()); });
    ASSERT_EQ(back.size(), x.size() * sizeof(float));
    std::vector<float> y(x.size());
    std::memcpy(y.data(), back.data(), back.size());
    for (float v : y) ASSERT_EQ(v, 0.0f) << format_info(f).name;
  }
  // The scale fields themselves are zero.
  const std::vector<uint8_t> tq2 = convert(x, rows, cols, FormatId::TQ2_0, 1);
  EXPECT_EQ(reinterpret_cast<const BlockTQ2_0*>(tq2.data())->d, 0);
  EXPECT_EQ(i2_s_scale(convert(x, rows, cols, FormatId::I2_S, 1).data(), rows, cols), 0.0f);
}

TEST(QuantizeTensor, RejectsBadShapesBeforeWriting) {
  const std::vector<float> x(300, 1.0f);
  ThreadPool pool(1);
  size_t sunk = 0;
  const ByteSink sink = [&](std::span<const uint8_t> b) { sunk += b.size(); };
  try {
    quantize_tensor(as_bytes(x), FormatId::F32, 1, 300, FormatId::TQ2_0, pool, sink, {}, "w.bin");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "w.bin: row length 300 is not a multiple of the tq2_0 block size 256");
  }
  try {
    quantize_tensor(as_bytes(x), FormatId::F32, 2, 256, FormatId::TQ2_0, pool, sink, {}, "w.bin");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "w.bin: expected 2048 bytes of f32 (2 rows x 256 values), got 1200");
  }
  EXPECT_THROW(quantize_tensor(as_bytes(x), FormatId::F32, 1, 300, FormatId::TRIN, pool, sink), Error);
  EXPECT_THROW(dequantize_tensor(std::span<const uint8_t>(), FormatId::Q8_0, 1, 32, pool, sink), Error);
  EXPECT_EQ(sunk, 0u);
}

// ------------------------------------------------------------ GGUF files

struct TestTensor {
  std::string name;
  FormatId format;
  std::vector<uint64_t> ne;
  std::vector<float> values;  // what the tensor holds (after its own rounding)
  std::vector<uint8_t> bytes;
};

TestTensor make_tensor(std::string name, FormatId f, std::vector<uint64_t> ne, uint32_t seed) {
  TestTensor t{std::move(name), f, std::move(ne), {}, {}};
  uint64_t n = 1;
  for (uint64_t d : t.ne) n *= d;
  std::vector<float> x = random_floats(n, seed);
  if (f == FormatId::I2_S || f == FormatId::Q8_0) {
    t.bytes = reference_bytes(f, x, n / t.ne[0], t.ne[0]);
    return t;
  }
  t.bytes.resize(tensor_nbytes(f, n / t.ne[0], t.ne[0]));
  format_traits(f).quantize_row(x.data(), t.bytes.data(), n);
  t.values.resize(n);
  format_traits(f).dequantize_row(t.bytes.data(), t.values.data(), n);
  return t;
}

std::vector<TestTensor> model_tensors() {
  std::vector<TestTensor> v;
  v.push_back(make_tensor("token_embd.weight", FormatId::F32, {512, 6}, 1));
  v.push_back(make_tensor("blk.0.attn_norm.weight", FormatId::F16, {512}, 2));
  v.push_back(make_tensor("blk.0.ffn_up.weight", FormatId::F16, {512, 4}, 3));
  v.push_back(make_tensor("blk.0.ffn_down.weight", FormatId::BF16, {256, 3, 2}, 4));
  v.push_back(make_tensor("blk.0.odd.weight", FormatId::F32, {96, 2}, 5));
  v.push_back(make_tensor("output.weight", FormatId::Q8_0, {64, 2}, 6));
  return v;
}

std::string write_gguf(const std::vector<TestTensor>& tensors, uint32_t alignment) {
  std::ostringstream os;
  GgufWriter w(os, "in.gguf", alignment);
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  w.set("tokenizer.ggml.tokens", GgufValue::array(std::vector<std::string>{"a", "b", "c"}));
  w.set("tokenizer.ggml.scores", GgufValue::array(std::vector<float>{0.5f, -1.0f, 2.0f}));
  w.set_u32("general.file_type", 0);
  for (const auto& t : tensors) w.add_tensor(t.name, t.format, std::span<const uint64_t>(t.ne));
  for (const auto& t : tensors) w.write_tensor_data(std::span<const uint8_t>(t.bytes));
  w.finish();
  return os.str();
}

class QuantizeGguf : public trix::test::TempDirTest {
 protected:
  // Names of leftover temporaries (trix::OutputFile's ".<name>.XXXXXX.tmp").
  std::string temporaries() const {
    std::string t;
    for (const std::string& n : names()) {
      if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) t += n + " ";
    }
    return t;
  }
};

QuantizeOptions model_options() {
  QuantizeOptions opt;
  opt.type = FormatId::TQ2_0;
  opt.rules = {parse_format_rule("token_embd.weight=q8_0"), parse_format_rule("blk.*.ffn_down.weight=i2_s"),
               parse_format_rule("blk.0.odd.weight=f16"), parse_format_rule("nothing.matches=q6_k"),
               parse_format_rule("token_embd.*=tq1_0")};
  return opt;
}

TEST_F(QuantizeGguf, PlanFollowsRulesThenOneDimThenDefault) {
  const std::vector<TestTensor> tensors = model_tensors();
  const std::string file = write_gguf(tensors, 32);
  const GgufReader in = GgufReader::from_memory(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(file.data()), file.size()), "in.gguf");
  const QuantizePlan plan = plan_quantization(in, model_options());
  ASSERT_EQ(plan.tensors.size(), 6u);
  EXPECT_EQ(plan.tensors[0].to, FormatId::Q8_0);  // first match wins over token_embd.*
  EXPECT_EQ(plan.tensors[1].to, FormatId::F32);   // 1-D norm: f16 -> f32
  EXPECT_EQ(plan.tensors[1].reason, "1-D");
  EXPECT_EQ(plan.tensors[2].to, FormatId::TQ2_0);
  EXPECT_EQ(plan.tensors[3].to, FormatId::I2_S);
  EXPECT_EQ(plan.tensors[4].to, FormatId::F16);
  EXPECT_EQ(plan.tensors[5].to, FormatId::Q8_0);
  EXPECT_TRUE(plan.tensors[5].copy);
  // Unused: matches nothing, or only tensors an earlier rule already took.
  EXPECT_EQ(plan.unused_rules, (std::vector<std::string>{"nothing.matches", "token_embd.*"}));

  // Without a rule for the 96-wide tensor: a clear error, or the fallback.
  QuantizeOptions opt;
  opt.type = FormatId::TQ2_0;
  try {
    plan_quantization(in, opt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "in.gguf: tensor 'blk.0.odd.weight': row length 96 is not a multiple of the tq2_0 block "
                 "size 256 (name a format for it with --keep 'blk.0.odd.weight=f16', or give --fallback)");
  }
  opt.fallback = FormatId::Q8_0;
  const QuantizePlan fb = plan_quantization(in, opt);
  EXPECT_EQ(fb.tensors[4].to, FormatId::Q8_0);
  EXPECT_EQ(fb.tensors[4].reason.rfind("fallback: row length 96", 0), 0u);
  opt.fallback = FormatId::Q4_K;
  EXPECT_THROW(plan_quantization(in, opt), Error);
  // Re-quantizing an already quantized tensor is refused.
  opt.fallback.reset();
  opt.rules = {parse_format_rule("blk.0.odd.weight=f16"), parse_format_rule("output.weight=tq2_0")};
  EXPECT_THROW(plan_quantization(in, opt), Error);
}

void check_output(const fs::path& out_path, const std::vector<TestTensor>& tensors, const GgufReader& in,
                  uint32_t alignment) {
  const GgufReader out = GgufReader::open(out_path);
  EXPECT_EQ(out.version(), 3u);
  EXPECT_EQ(out.alignment(), alignment);
  // Every input key kept, in order, with its value; file type updated.
  for (const auto& [key, value] : in.metadata()) {
    ASSERT_NE(out.find(key), nullptr) << key;
    if (key == "general.file_type") continue;
    EXPECT_EQ(out.find(key)->to_string(100), value.to_string(100)) << key;
  }
  EXPECT_EQ(out.metadata().front().first, in.metadata().front().first);
  EXPECT_EQ(out.get_u32("general.file_type"), 37u);  // LLAMA_FTYPE_MOSTLY_TQ2_0
  EXPECT_EQ(out.get_u32("general.quantization_version"), 2u);

  const FormatId expected[] = {FormatId::Q8_0, FormatId::F32, FormatId::TQ2_0,
                               FormatId::I2_S, FormatId::F16, FormatId::Q8_0};
  ASSERT_EQ(out.tensors().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TestTensor& t = tensors[i];
    const GgufTensor& o = out.tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(o.name, t.name);
    EXPECT_EQ(o.n_dims, t.ne.size());
    for (size_t d = 0; d < t.ne.size(); ++d) EXPECT_EQ(o.ne[d], t.ne[d]);
    EXPECT_EQ(o.format, expected[i]);
    EXPECT_EQ(o.offset % alignment, 0u);
    const std::vector<uint8_t> got(o.data, o.data + o.nbytes);
    if (t.values.empty()) {
      EXPECT_EQ(got, t.bytes);  // copied as is
    } else {
      EXPECT_EQ(got, reference_bytes(o.format, t.values, o.n_rows(), o.ne[0]));
    }
  }
}

TEST_F(QuantizeGguf, OutputLoadsAndHoldsTheScalarQuantizersBytes) {
  for (uint32_t alignment : {32u, 64u, 1u}) {
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    const std::vector<TestTensor> tensors = model_tensors();
    const fs::path in_path = dir_ / "in.gguf";
    const std::string file = write_gguf(tensors, alignment);
    write_file(in_path, file.data(), file.size());
    const GgufReader in = GgufReader::open(in_path);
    const QuantizeOptions opt = model_options();
    const QuantizePlan plan = plan_quantization(in, opt);
    const fs::path out_path = dir_ / "out.gguf";
    size_t calls = 0;
    uint64_t last = 0, total = 0;
    ThreadPool pool(2);
    quantize_gguf_file(in, plan, opt, out_path, {in_path}, pool, [&](const QuantizeProgress& p) {
      ++calls;
      EXPECT_GE(p.bytes_done, last);
      last = p.bytes_done;
      total = p.bytes_total;
    });
    EXPECT_EQ(temporaries(), "");
    EXPECT_GT(calls, tensors.size());
    EXPECT_EQ(last, total);
    check_output(out_path, tensors, in, alignment);

    // The same bytes from 1 thread and one row per chunk.
    QuantizeOptions small = opt;
    small.chunk_elements = 1;
    ThreadPool one(1);
    quantize_gguf_file(in, plan, small, dir_ / "out1.gguf", {in_path}, one);
    EXPECT_EQ(read_bytes(out_path), read_bytes(dir_ / "out1.gguf"));
  }
}

// ------------------------------------------------------------ the tool

#ifdef TRIX_QUANTIZE_EXE
struct ToolResult {
  int rc = -1;
  std::string out, err;
};

class QuantizeTool : public QuantizeGguf {
 protected:
  ToolResult run(const std::string& args) {
    const std::string cmd = std::string(TRIX_QUANTIZE_EXE) + " " + args + " >" + (dir_ / "stdout").string() +
                            " 2>" + (dir_ / "stderr").string();
    const int status = std::system(cmd.c_str());
    ToolResult r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const auto out = read_bytes(dir_ / "stdout"), err = read_bytes(dir_ / "stderr");
    r.out.assign(out.begin(), out.end());
    r.err.assign(err.begin(), err.end());
    return r;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
};

TEST_F(QuantizeTool, RawModeReproducesGgmlGoldenBytes) {
  TRIX_REQUIRE_SHARED_FILE(golden, "testdata/ggml-golden/input_main_f32.bin");
  const fs::path g = golden.parent_path();
  struct Part {
    const char* name;
    int rows, cols;
  };
  for (const char* type : {"tq2_0", "tq1_0", "q8_0", "q4_K", "q6_K", "q8_K"}) {
    for (Part part : {Part{"main", 4, 1024}, Part{"special", 4, 256}}) {
      SCOPED_TRACE(std::string(part.name) + " " + type);
      const std::string shape = " --rows " + std::to_string(part.rows) + " --cols " + std::to_string(part.cols) +
                                " --type " + type + " ";
      const std::string base = std::string(part.name) + "_" + type;
      ToolResult r = run("--raw --threads 2" + shape + (g / ("input_" + std::string(part.name) + "_f32.bin")).string() +
                         " " + path("q.bin"));
      ASSERT_EQ(r.rc, 0) << r.err;
      EXPECT_EQ(read_bytes(path("q.bin")), read_bytes(g / (base + ".bin")));
      r = run("--raw --dequantize" + shape + (g / (base + ".bin")).string() + " " + path("d.f32"));
      ASSERT_EQ(r.rc, 0) << r.err;
      EXPECT_EQ(read_bytes(path("d.f32")), read_bytes(g / (base + "_dequant_f32.bin")));
    }
  }
}

TEST_F(QuantizeTool, RawModeI2SAndEdgeInputs) {
  const uint64_t rows = 8, cols = 256;
  const std::vector<float> x = edge_rows(cols, rows);
  write_file(path("x.f32"), x.data(), x.size() * sizeof(float));
  for (FormatId f : {FormatId::I2_S, FormatId::TQ2_0, FormatId::TQ1_0, FormatId::Q6_K}) {
    const std::string type = format_info(f).name;
    ToolResult r = run("--raw --rows 8 --cols 256 --type " + type + " " + path("x.f32") + " " + path("q.bin"));
    ASSERT_EQ(r.rc, 0) << r.err;
    const std::vector<uint8_t> q = read_bytes(path("q.bin"));
    EXPECT_EQ(q, reference_bytes(f, x, rows, cols)) << type;
    r = run("--raw --dequantize --rows 8 --cols 256 --type " + type + " " + path("q.bin") + " " + path("d.f32"));
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(read_bytes(path("d.f32")).size(), x.size() * sizeof(float));
  }
}

TEST_F(QuantizeTool, RawModeErrorsAreOneLineWithExpectedAndActualBytes) {
  const std::vector<float> x(1024, 0.25f);
  write_file(path("x.f32"), x.data(), x.size() * sizeof(float));
  ToolResult r = run("--raw --rows 5 --cols 256 --type tq2_0 " + path("x.f32") + " " + path("q.bin"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "trix-quantize: error: " + path("x.f32") +
                       ": expected 5120 bytes of f32 (5 rows x 256 values), got 4096\n");
  EXPECT_FALSE(fs::exists(path("q.bin")));
  EXPECT_EQ(temporaries(), "");
  r = run("--raw --dequantize --rows 4 --cols 256 --type tq1_0 " + path("x.f32") + " " + path("d.f32"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "trix-quantize: error: " + path("x.f32") +
                       ": expected 216 bytes of tq1_0 (4 rows x 256 values), got 4096\n");
  r = run("--raw --rows 2 --cols 512 --type i2_s --dequantize " + path("x.f32") + " " + path("d.f32"));
  EXPECT_NE(r.err.find("expected 288 bytes of i2_s"), std::string::npos) << r.err;
  r = run("--raw --rows 1 --cols 1000 --type q4_k " + path("x.f32") + " " + path("q.bin"));
  EXPECT_EQ(r.err, "trix-quantize: error: --cols: row length 1000 is not a multiple of the q4_k block size 256\n");
  r = run("--raw --rows 4 --cols 256 --type trin " + path("x.f32") + " " + path("q.bin"));
  EXPECT_EQ(r.rc, 1);
  r = run("--raw --cols 256 --type q8_0 " + path("x.f32") + " " + path("q.bin"));
  EXPECT_EQ(r.err, "trix-quantize: error: --raw needs --rows R and --cols C, both > 0\n");
  r = run("--raw --rows 4 --cols 256 --type q8_0 " + path("missing.f32") + " " + path("q.bin"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("missing.f32: cannot open"), std::string::npos) << r.err;
  r = run("--rows x --type q8_0 a b");
  EXPECT_EQ(r.err, "trix-quantize: error: --rows: expected a non-negative integer, got 'x'\n");
  r = run("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("all-zero rows/blocks"), std::string::npos);
}

TEST_F(QuantizeTool, GgufModeWritesALoadableFile) {
  const std::vector<TestTensor> tensors = model_tensors();
  const std::string file = write_gguf(tensors, 32);
  write_file(path("in.gguf"), file.data(), file.size());
  const std::string rules =
      " --keep token_embd.weight=q8_0 --keep 'blk.*.ffn_down.weight=i2_s' --keep blk.0.odd.weight=f16 ";
  ToolResult r = run("--type tq2_0 --threads 2 --progress" + rules + path("in.gguf") + " " + path("out.gguf"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("100% 6/6"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("6 tensors (5 converted, 1 copied)"), std::string::npos) << r.out;
  const GgufReader in = GgufReader::open(path("in.gguf"));
  check_output(path("out.gguf"), tensors, in, 32);

  // Not a tty and no --progress: no bar.
  r = run("--type tq2_0" + rules + "--keep 'nothing=q6_k' " + path("in.gguf") + " " + path("out2.gguf"));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "warning: --keep pattern 'nothing' decides no tensor (no match, or earlier rules win)\n");
  EXPECT_EQ(read_bytes(path("out.gguf")), read_bytes(path("out2.gguf")));

  r = run("--type tq2_0 " + path("in.gguf") + " " + path("out3.gguf"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("tensor 'blk.0.odd.weight': row length 96 is not a multiple of the tq2_0 block size 256"),
            std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("out3.gguf")));
  EXPECT_EQ(temporaries(), "");
  r = run("--type tq2_0 --fallback f16 " + path("in.gguf") + " " + path("out3.gguf"));
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("blk.0.odd.weight -> f16 (fallback: row length 96"), std::string::npos) << r.out;
  r = run("--type q8_k " + path("in.gguf") + " " + path("out4.gguf"));
  EXPECT_EQ(r.err, "trix-quantize: error: type q8_k cannot hold weights in a GGUF file\n");
  r = run("--type tq2_0 --fallback f16 " + path("in.gguf") + " " + path("in.gguf"));
  EXPECT_NE(r.err.find(": is the same file as input '"), std::string::npos) << r.err;
  r = run("--type tq2_0 " + path("out3.gguf.nothere") + " " + path("x.gguf"));
  EXPECT_EQ(r.rc, 1);
  // A truncated input is rejected by the reader with its one-line message.
  write_file(path("bad.gguf"), file.data(), file.size() / 2);
  r = run("--type tq2_0 " + path("bad.gguf") + " " + path("x.gguf"));
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}
#endif  // TRIX_QUANTIZE_EXE

}  // namespace
}  // namespace trix
