// Test helper: writes one broken variant of the tiny llama GGUF
// (tiny_gguf.h) to a file and prints the text its error must contain, so
// the tool tests check the tools against the same cases as the loader test.
//   make_bad_gguf <kind> <out.gguf>     kinds: see trix::test::kBadKinds
#include <cstdio>
#include <exception>
#include <fstream>

#include "model/tools/tiny_gguf.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <kind> <out.gguf>\n", argv[0]);
    return 2;
  }
  try {
    const trix::test::BadGguf b = trix::test::bad_gguf(argv[1]);
    std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
    out.write(b.bytes.data(), static_cast<std::streamsize>(b.bytes.size()));
    if (!out) throw std::runtime_error(std::string("cannot write ") + argv[2]);
    std::printf("%s\n", b.expect.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
