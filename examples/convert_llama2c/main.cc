// trix-convert-llama2c: llama2.c checkpoint + tokenizer.bin -> GGUF.
// Usage: trix-convert-llama2c model.bin tokenizer.bin out.gguf
#include <cstdio>
#include <exception>

#include "trix/io/gguf_reader.h"
#include "trix/io/llama2c.h"
#include "trix/convert/llama2c_to_gguf.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s model.bin tokenizer.bin out.gguf\n", argv[0]);
    return 2;
  }
  try {
    trix::convert_llama2c_to_gguf(argv[1], argv[2], argv[3]);
    const trix::GgufReader r = trix::GgufReader::open(argv[3]);  // check what we wrote
    std::printf("%s: %zu tensors, %zu metadata keys, %llu bytes\n", argv[3], r.tensors().size(),
                r.metadata().size(), static_cast<unsigned long long>(r.file_size()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
