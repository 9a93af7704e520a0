// stories260K with the runtime shape (see stories_size.h).
#include "stories_size.h"

int main(int argc, char** argv) {
  return trix::bench::stories_greedy_main(
      argc, argv, [](const trix::ModelConfig& c) { return trix::RuntimeShape::from(c); });
}
