// Writes the checked-in seed corpora of the fuzz targets (tests/fuzz/corpus/
// <name>/), made from the same makers as the unit tests; run it again when a
// format changes:  build/fuzz/tests/fuzz/make_fuzz_corpus tests/fuzz/corpus
// (the spec seeds are copies of specs/ files, so the source tree is needed).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/tools/tiny_gguf.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"

namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

template <class T>
void put(std::string& s, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  s.append(b, sizeof(T));
}

// llama2.c checkpoint: dim 4, hidden 6, 1 layer, 2 heads, 1 kv head,
// vocab `vocab`, seq_len 3; shared classifier when vocab > 0.
std::string llama2c_checkpoint(int32_t vocab) {
  std::string s;
  for (int32_t h : {4, 6, 1, 2, 1, vocab, 3}) put(s, h);
  const int32_t V = vocab < 0 ? -vocab : vocab;
  // embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
  // freq_cis (seq_len x head/2, twice), then wcls when not shared.
  const int32_t n = V * 4 + 4 + 16 + 8 + 8 + 16 + 4 + 24 + 24 + 24 + 4 + 2 * 3 * 1 + (vocab < 0 ? V * 4 : 0);
  for (int32_t i = 0; i < n; ++i) put(s, static_cast<float>(i % 13) * 0.125f - 0.5f);
  return s;
}

// The llama2c fuzz target's tokenizer input: u16 vocab size, tokenizer.bin.
std::string llama2c_tokenizer(const std::vector<std::string>& pieces) {
  std::string s;
  put(s, static_cast<uint16_t>(pieces.size()));
  put(s, uint32_t{8});
  for (size_t i = 0; i < pieces.size(); ++i) {
    put(s, -static_cast<float>(i));
    put(s, static_cast<int32_t>(pieces[i].size()));
    s += pieces[i];
  }
  return s;
}

// A GGUF holding only a byte-level BPE tokenizer.
std::string bpe_gguf() {
  std::ostringstream os;
  trix::GgufWriter g(os, "bpe.gguf");
  g.set_string("general.architecture", "llama");
  g.set_string("tokenizer.ggml.model", "gpt2");
  g.set_string("tokenizer.ggml.pre", "llama-bpe");
  g.set("tokenizer.ggml.tokens", trix::GgufValue::array(std::vector<std::string>{
                                     "a", "b", "ab", "\xc4\xa0", "\xc4\xa0" "a", "<|end|>"}));
  g.set("tokenizer.ggml.merges", trix::GgufValue::array(std::vector<std::string>{"a b", "\xc4\xa0 a"}));
  g.set("tokenizer.ggml.token_type", trix::GgufValue::array(std::vector<int32_t>{1, 1, 1, 1, 1, 3}));
  g.set_u32("tokenizer.ggml.eos_token_id", 5);
  g.finish();
  return os.str();
}

std::string args(const std::vector<std::string>& words) {
  std::string s;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i) s += '\0';
    s += words[i];
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <corpus dir> <source dir>\n", argv[0]);
    return 2;
  }
  try {
    const fs::path out = argv[1], src = argv[2];
    write(out / "gguf" / "tiny_llama.gguf", trix::test::tiny_llama_gguf());
    write(out / "gguf" / "bpe_tokenizer.gguf", bpe_gguf());

    write(out / "llama2c" / "shared_classifier.bin", llama2c_checkpoint(5));
    write(out / "llama2c" / "own_classifier.bin", llama2c_checkpoint(-5));
    write(out / "llama2c" / "tokenizer.bin",
          llama2c_tokenizer({"<unk>", "<s>", "</s>", "<0x0A>", " a", "b", "a b", "", "\xc3\xa9"}));

    for (const char* spec : {"formats/tq2_0.yaml", "formats/q8_0.yaml", "kernels/gemv_tq2_0_q8_k.yaml",
                             "kernels/gemv_packed_i2_s_i8_s.yaml", "models/stories260k.yaml"}) {
      const fs::path to = out / "spec" / fs::path(spec).filename();
      fs::create_directories(to.parent_path());
      fs::copy_file(src / "specs" / spec, to, fs::copy_options::overwrite_existing);
    }

    // Byte 0: tokenizer (bits 0-2), add_special (bit 3), parse_special (bit 4).
    write(out / "tokenizer" / "spm_text", std::string("\x08") + "Hello world, the theory 123 caf\xc3\xa9");
    write(out / "tokenizer" / "spm_special", std::string("\x18") + "<s> a <|user|> b</s>\n\xff\xfe");
    write(out / "tokenizer" / "bpe_gpt2", std::string("\x0a") + "hello world's  test123 !!\n\n  x");
    write(out / "tokenizer" / "bpe_llama3", std::string("\x13") + "<|begin|>I'M (hello) \n\tx  \n<|end|>");
    write(out / "tokenizer" / "bpe_smollm",
          std::string("\x04") + "12345 \xe4\xbd\xa0\xe5\xa5\xbd \xe2\x80\x9cquoted\xe2\x80\x9d");

    write(out / "generate_args" / "typical", args({"-m", "m.gguf", "-p", "Once upon", "-n", "64", "--temp",
                                                   "0.8", "--top-k", "40", "--top-p", "0.95", "--seed", "7"}));
    write(out / "generate_args" / "more", args({"--ctx", "128", "--threads", "2", "--min-p", "0.05",
                                                "--repeat-penalty", "1.1", "--repeat-last-n", "64"}));
    write(out / "generate_args" / "bad", args({"-n", "9223372036854775807", "--top-k", "4294967297",
                                               "--temp", "inf", "-m", ""}));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
