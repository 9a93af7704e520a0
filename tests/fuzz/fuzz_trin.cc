// libFuzzer target for the TRIN reader (trix/io/trin.h): any byte
// string must either read or throw trix::Error, never crash, read out of
// bounds (run under ASan) or allocate more than the expected tensors' sizes.
// The expected tensor list is fixed here (a TRIN file carries no shapes):
// shapes with and without padding in the last byte, and one empty tensor.
// Seeds: tests/fuzz/corpus/trin/.
#include <cstddef>
#include <cstdint>
#include <span>

#include "trix/core/error.h"
#include "trix/io/trin.h"

namespace {

const trix::TrinTensorSpec kSpecs[] = {
    {"blk.0.attn_q.weight", 8, 16, 0.5f},  // 32 bytes
    {"blk.0.ffn_up.weight", 3, 5, 2.0f},   // 15 weights: 4 bytes, one padding field
    {"empty", 0, 7, 1.0f},                 // 0 bytes
    {"output.weight", 1, 4, 1.0f},         // 1 byte
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    trix::TrinReader r = trix::TrinReader::from_memory(std::span<const uint8_t>(data, size), "fuzz.trin", kSpecs);
    // Read out of order, as the converter may.
    for (size_t i = r.size(); i-- > 0;) {
      const trix::TrinTensor t = r.read(i);
      int sum = 0;
      for (uint64_t k = 0; k < t.size(); ++k) sum += t.value(k);
      (void)sum;
    }
  } catch (const trix::Error&) {
  }
  return 0;
}
