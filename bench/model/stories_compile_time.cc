// stories260K with the compile-time trix::models::Stories260K (see
// stories_size.h).
#include "stories_size.h"
#include "trix/models/stories260k.h"

int main(int argc, char** argv) {
  return trix::bench::stories_greedy_main(argc, argv, [](const trix::ModelConfig&) {
    return trix::SpecShape<trix::models::Stories260K>{};
  });
}
