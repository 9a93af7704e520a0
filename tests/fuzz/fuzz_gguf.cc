// libFuzzer target: any byte string must either parse or throw trix::Error,
// never crash or read out of bounds (run under ASan). When a file parses,
// every tensor view is touched; the model config and weight views the loader
// derives from it are built and checked; and, if it carries a tokenizer,
// that is built and exercised too, since it reads the same untrusted
// metadata.
#include <cstddef>
#include <cstdint>
#include <span>

#include "trix/io/gguf_reader.h"
#include "trix/runtime/loader.h"
#include "trix/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const trix::GgufReader r = trix::GgufReader::from_memory(std::span<const uint8_t>(data, size), "fuzz");
    unsigned sum = 0;
    for (const auto& t : r.tensors()) {
      if (t.nbytes) sum += t.data[0] + t.data[t.nbytes - 1];
    }
    (void)sum;
    if (r.has("tokenizer.ggml.model")) {
      const trix::Tokenizer tok = trix::Tokenizer::from_gguf(r);
      const auto ids = tok.encode("Hello world \xc3\xa9\xff 123", true, true);
      (void)tok.decode(ids);
    }
    // What load_model does before preparing weights for the kernels.
    const trix::ModelConfig c = trix::gguf_model_config(r);
    const trix::ModelWeights w = trix::gguf_model_weights(r, c);
    trix::validate_weights(c, w);
  } catch (const trix::Error&) {
  }
  return 0;
}
