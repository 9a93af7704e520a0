// llama2.c -> GGUF: our stories260K conversion against llama.cpp's, and
// malformed checkpoints / tokenizers.
#include "trix/io/llama2c.h"
#include "trix/convert/llama2c_to_gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/files.h"
#include "common/shared_data.h"
#include "model/tools/tiny_llama2c.h"
#include "trix/io/gguf_reader.h"
#include "trix/runtime/llama2c_checkpoint.h"

namespace trix {
namespace {

using test::tiny_checkpoint;
using test::tiny_tokenizer;

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) / name;
}

using test::error_of;
using test::read_bytes;

bool same_bytes(const GgufTensor& a, const GgufTensor& b) {
  return a.nbytes == b.nbytes && std::memcmp(a.data, b.data, a.nbytes) == 0;
}

TEST(Llama2c, Stories260kMatchesLlamaCppConversion) {
  TRIX_REQUIRE_SHARED_FILE(model, "models/stories260K/stories260K.bin");
  TRIX_REQUIRE_SHARED_FILE(tok, "models/stories260K/tok512.bin");
  TRIX_REQUIRE_SHARED_FILE(ref_path, "models/stories260K/stories260K-llamacpp.gguf");
  const auto out = temp_path("trix_stories260K.gguf");
  convert_llama2c_to_gguf(model, tok, out);
  const GgufReader ours = GgufReader::open(out);
  const GgufReader ref = GgufReader::open(ref_path);

  // Hyper-parameters: identical except the context length (llama.cpp's
  // converter writes its n_ctx default, 128; we write the checkpoint's 512).
  EXPECT_EQ(ours.get_string("general.architecture"), "llama");
  for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                          "llama.attention.head_count", "llama.attention.head_count_kv",
                          "llama.rope.dimension_count", "tokenizer.ggml.bos_token_id",
                          "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"}) {
    EXPECT_EQ(ours.get_u32(key), ref.get_u32(key)) << key;
  }
  EXPECT_EQ(ref.get_u32("llama.context_length"), 128u);
  EXPECT_EQ(ours.get_u32("llama.context_length"), 512u);
  EXPECT_EQ(ours.get_f32("llama.attention.layer_norm_rms_epsilon"),
            ref.get_f32("llama.attention.layer_norm_rms_epsilon"));
  EXPECT_EQ(ours.get_string("tokenizer.ggml.model"), ref.get_string("tokenizer.ggml.model"));

  // Vocabulary: same pieces (U+2581 word marker), bit-identical scores, same types.
  EXPECT_EQ(ours.get_array<std::string>("tokenizer.ggml.tokens"),
            ref.get_array<std::string>("tokenizer.ggml.tokens"));
  const auto s1 = ours.get_array<float>("tokenizer.ggml.scores");
  const auto s2 = ref.get_array<float>("tokenizer.ggml.scores");
  ASSERT_EQ(s1.size(), s2.size());
  EXPECT_EQ(std::memcmp(s1.data(), s2.data(), s1.size() * 4), 0);
  EXPECT_EQ(ours.get_array<int32_t>("tokenizer.ggml.token_type"),
            ref.get_array<int32_t>("tokenizer.ggml.token_type"));

  // Tensors: same names, shapes, types and bytes. The one difference:
  // stories260K shares its classifier, so we write no output.weight (the
  // runtime ties it to token_embd) while llama.cpp duplicates the embedding.
  EXPECT_EQ(ours.tensors().size() + 1, ref.tensors().size());
  EXPECT_EQ(ours.find_tensor("output.weight"), nullptr);
  for (const GgufTensor& r : ref.tensors()) {
    const GgufTensor& o = ours.tensor(r.name == "output.weight" ? "token_embd.weight" : r.name);
    EXPECT_EQ(o.n_dims, r.n_dims) << r.name;
    EXPECT_EQ(o.ne, r.ne) << r.name;
    EXPECT_EQ(o.format, r.format) << r.name;
    EXPECT_TRUE(same_bytes(o, r)) << r.name;
  }

  // And against the checkpoint itself: no permutation, llama2.c's W[out][in]
  // is ggml's ne = {in, out} byte for byte.
  const auto bin = read_bytes(model);
  const GgufTensor& emb = ours.tensor("token_embd.weight");
  EXPECT_EQ(emb.ne[0], 64u);
  EXPECT_EQ(emb.ne[1], 512u);
  EXPECT_EQ(std::memcmp(emb.data, bin.data() + 28, emb.nbytes), 0);
  const uint64_t wq0 = 28 + 4 * (512 * 64 + 5 * 64);  // after embedding and rms_att
  EXPECT_EQ(std::memcmp(ours.tensor("blk.0.attn_q.weight").data, bin.data() + wq0, 64 * 64 * 4), 0);
  const GgufTensor& down = ours.tensor("blk.4.ffn_down.weight");
  EXPECT_EQ(down.ne[0], 172u);
  EXPECT_EQ(down.ne[1], 64u);
  std::filesystem::remove(out);
}

TEST(Llama2c, SeparateClassifierIsWritten) {
  const auto ck = tiny_checkpoint(-5, true);
  const auto tk = tiny_tokenizer(5);
  const Llama2cWeights w = parse_llama2c_checkpoint(ck, "tiny.bin");
  EXPECT_FALSE(w.config.shared_classifier);
  EXPECT_EQ(w.config.vocab_size, 5);
  const auto out = temp_path("trix_tiny.gguf");
  write_llama2c_gguf(w, parse_llama2c_tokenizer(tk, "tiny.tok", 5), out);
  const GgufReader r = GgufReader::open(out);
  const GgufTensor& cls = r.tensor("output.weight");
  EXPECT_EQ(cls.ne[0], 4u);
  EXPECT_EQ(cls.ne[1], 5u);
  EXPECT_EQ(std::memcmp(cls.data, ck.data() + ck.size() - 80, 80), 0);
  EXPECT_EQ(r.tensor("blk.0.attn_k.weight").ne[1], 2u);
  EXPECT_EQ(r.get_u32("llama.rope.dimension_count"), 2u);
  const auto tokens = r.get_array<std::string>("tokenizer.ggml.tokens");
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[3], "a\xe2\x96\x81" "b");
  std::filesystem::remove(out);
}

TEST(Llama2cBad, Checkpoints) {
  auto ck = tiny_checkpoint(5, false);
  EXPECT_EQ(error_of([&] { (void)parse_llama2c_checkpoint(std::span(ck).first(20), "m.bin"); }),
            "m.bin: at byte offset 0: truncated llama2.c header: need 28 bytes (7 int32), file has 20");
  ck.pop_back();
  EXPECT_EQ(error_of([&] { (void)parse_llama2c_checkpoint(ck, "m.bin"); }),
            "m.bin: at byte offset 0: llama2.c checkpoint size 659 bytes does not match its header "
            "(dim 4, hidden 6, layers 1, heads 2/1, vocab 5, seq_len 3), which needs 660 bytes");
  auto bad = tiny_checkpoint(5, false);
  bad[12] = 0;  // n_heads = 0
  EXPECT_EQ(error_of([&] { (void)parse_llama2c_checkpoint(bad, "m.bin"); }),
            "m.bin: at byte offset 12: llama2.c header field n_heads = 0 (expected a positive value)");
  bad = tiny_checkpoint(5, false);
  bad[12] = 3;  // dim 4 not divisible by 3 heads
  EXPECT_NE(error_of([&] { (void)parse_llama2c_checkpoint(bad, "m.bin"); }).find("must be n_heads"),
            std::string::npos);
  // Huge sizes must not overflow into a "valid" size.
  const int32_t huge[7] = {0x7ffffffe, 0x7fffffff, 0x7fffffff, 1, 1, 0x7fffffff, 0x7fffffff};
  std::vector<uint8_t> hb(28);
  std::memcpy(hb.data(), huge, 28);
  EXPECT_NE(error_of([&] { (void)parse_llama2c_checkpoint(hb, "m.bin"); }).find("more than 2^64"),
            std::string::npos);
}

TEST(Llama2cBad, Tokenizers) {
  const auto tk = tiny_tokenizer(5);
  for (size_t n = 0; n < tk.size(); ++n) {
    std::vector<uint8_t> prefix(tk.begin(), tk.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW((void)parse_llama2c_tokenizer(prefix, "t.bin", 5), Error) << n;
  }
  EXPECT_EQ(error_of([&] { (void)parse_llama2c_tokenizer(tk, "t.bin", 4); }),
            "t.bin: at byte offset 45: 10 trailing bytes after the 4 tokens the model expects");
  EXPECT_EQ(error_of([&] { (void)parse_llama2c_tokenizer(std::span(tk).first(20), "t.bin", 5); }),
            "t.bin: at byte offset 14: truncated: need 8 bytes for token 1 score and length, 6 left");
  auto neg = tk;
  neg[8] = 0xff, neg[9] = 0xff, neg[10] = 0xff, neg[11] = 0xff;
  EXPECT_EQ(error_of([&] { (void)parse_llama2c_tokenizer(neg, "t.bin", 5); }),
            "t.bin: at byte offset 8: token 0: negative length -1");
  const auto ck = tiny_checkpoint(5, false);
  EXPECT_EQ(error_of([&] {
              write_llama2c_gguf(parse_llama2c_checkpoint(ck, "m.bin"),
                                 parse_llama2c_tokenizer(tiny_tokenizer(4), "t.bin", 4),
                                 temp_path("never.gguf"));
            }),
            temp_path("never.gguf").string() + ": tokenizer has 4 tokens, the checkpoint expects 5");
}


// The in-memory entry point (used by the fuzz target): views point into the
// caller's buffer, which must be 4-byte aligned for the f32 arrays.
TEST(Llama2cCheckpoint, FromMemory) {
  const auto ck = tiny_checkpoint(-5, true);
  const Llama2cCheckpoint m = Llama2cCheckpoint::from_memory(ck, "m.bin");
  EXPECT_EQ(m.config().dim, 4);
  EXPECT_EQ(m.config().vocab_size, 5);
  EXPECT_FALSE(m.config().tied_output);
  EXPECT_EQ(m.weights().token_embd.data, ck.data() + 28);
  EXPECT_EQ(static_cast<const float*>(m.weights().token_embd.data)[1], 1.0f);
  std::vector<uint8_t> shifted(ck.size() + 1);
  std::memcpy(shifted.data() + 1, ck.data(), ck.size());
  EXPECT_EQ(error_of([&] { (void)Llama2cCheckpoint::from_memory(std::span(shifted).subspan(1), "m.bin"); }),
            "m.bin: checkpoint buffer is not 4-byte aligned");
  EXPECT_NE(error_of([&] { (void)Llama2cCheckpoint::from_memory(std::span(ck).first(100), "m.bin"); })
                .find("m.bin: at byte offset 0: llama2.c checkpoint size 100 bytes"),
            std::string::npos);
}

}  // namespace
}  // namespace trix
