// libFuzzer target for the llama.c readers (llama2c.h, llama2c_checkpoint.h):
// the input is read as a checkpoint (stories260K.bin's format) and, after a
// 2-byte vocabulary size, as a tokenizer.bin, whose vocabulary then builds a
// SentencePiece tokenizer as the GGUF converter would. Anything but
// trix::Error (a crash, an out-of-bounds read, UB) is a finding.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "trix/io/llama2c.h"
#include "trix/convert/llama2c_to_gguf.h"
#include "trix/runtime/llama2c_checkpoint.h"
#include "trix/text/tokenizer.h"

namespace {

void checkpoint(std::span<const uint8_t> bytes) {
  try {
    const trix::Llama2cCheckpoint ck = trix::Llama2cCheckpoint::from_memory(bytes, "fuzz.bin");
    // Touch the first and last float of every view.
    float sum = 0;
    const auto touch = [&](const trix::WeightView& v) {
      const auto* f = static_cast<const float*>(v.data);
      if (v.rows > 0 && v.cols > 0) sum += f[0] + f[v.rows * v.cols - 1];
    };
    touch(ck.weights().token_embd);
    touch(ck.weights().output);
    for (const auto& L : ck.weights().layers) {
      touch(L.wq);
      touch(L.w_down);
    }
    (void)sum;
  } catch (const trix::Error&) {
  }
}

void tokenizer(std::span<const uint8_t> bytes) {
  if (bytes.size() < 2) return;
  const int32_t vocab_size = bytes[0] | (bytes[1] << 8);
  try {
    const trix::Llama2cVocab v = trix::parse_llama2c_tokenizer(bytes.subspan(2), "fuzz.tok", vocab_size);
    trix::GgufSpmVocab g = trix::llama2c_vocab_to_gguf(v);
    trix::TokenizerVocab tv;
    tv.kind = trix::TokenizerKind::Spm;
    tv.tokens = std::move(g.tokens);
    tv.scores = std::move(g.scores);
    for (int32_t t : g.types) tv.types.push_back(static_cast<trix::TokenType>(t));
    const auto n = static_cast<int32_t>(tv.tokens.size());
    tv.unk = n > 0 ? 0 : -1;
    tv.bos = n > 1 ? 1 : -1;
    tv.eos = n > 2 ? 2 : -1;
    const trix::Tokenizer tok(std::move(tv), "fuzz.tok");
    const auto ids = tok.encode("Once upon a time \xe2\x96\x81 \xff\xfe <s>", true, true);
    (void)tok.decode(ids);
  } catch (const trix::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  checkpoint(bytes);
  tokenizer(bytes);
  return 0;
}
