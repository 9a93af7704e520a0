// trix-gguf-info: prints a GGUF file's header, metadata and tensor table.
// Usage: trix-gguf-info FILE.gguf [--all]   (--all prints whole arrays)
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <string>

#include "trix/io/gguf_reader.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::strcmp(argv[2], "--all") != 0)) {
    std::fprintf(stderr, "usage: %s FILE.gguf [--all]\n", argv[0]);
    return 2;
  }
  const size_t max_items = argc == 3 ? std::numeric_limits<size_t>::max() : 8;
  try {
    const trix::GgufReader r = trix::GgufReader::open(argv[1]);
    std::printf("%s: GGUF v%u, %zu metadata keys, %zu tensors, alignment %u, data at byte %llu of %llu\n",
                r.name().c_str(), r.version(), r.metadata().size(), r.tensors().size(), r.alignment(),
                static_cast<unsigned long long>(r.data_offset()),
                static_cast<unsigned long long>(r.file_size()));
    for (const auto& [key, value] : r.metadata()) {
      std::printf("  %-45s %s\n", key.c_str(), value.to_string(max_items).c_str());
    }
    for (const auto& t : r.tensors()) {
      std::string shape;
      for (uint32_t d = 0; d < t.n_dims; ++d) {
        if (d) shape += " x ";
        shape += std::to_string(t.ne[d]);
      }
      std::printf("  %-32s %-6s [%s]  %llu bytes at +%llu\n", t.name.c_str(),
                  trix::format_info(t.format).name, shape.c_str(),
                  static_cast<unsigned long long>(t.nbytes),
                  static_cast<unsigned long long>(t.offset));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
