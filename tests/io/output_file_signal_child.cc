// Test helper for output_file_test: a fresh process (so the signal handlers
// are installed by this run's first OutputFile, as in a real tool) that
// opens an OutputFile, writes 1 MiB, tells the parent it is ready, then
// waits to be signalled.
//   output_file_signal_child <mode> <out> <ready-file>
// modes:
//   default   no handler of its own: must die of the signal
//   chained   installs a SIGTERM/SIGINT handler first that creates
//             <out>.handled and _exit(42)s: ours must run, then call it
//   ignored   SIGTERM/SIGINT ignored first: must stay ignored; the parent
//             signals, then removes <ready-file>, and the write commits
//   raise     raises SIGTERM itself after writing
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "trix/io/output_file.h"

namespace {

std::string g_handled;

void own_handler(int) {
  const int fd = ::open(g_handled.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) ::close(fd);
  ::_exit(42);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s default|chained|ignored|raise <out> <ready-file>\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::filesystem::path out = argv[2], ready = argv[3];
  g_handled = out.string() + ".handled";
  if (mode == "chained") {
    ::signal(SIGTERM, own_handler);
    ::signal(SIGINT, own_handler);
  } else if (mode == "ignored") {
    ::signal(SIGTERM, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
  }
  try {
    trix::OutputFile f(out);
    const std::vector<uint8_t> bytes(size_t{1} << 20, 0x5a);
    f.write(bytes);
    f.stream().flush();  // the temporary holds data, as mid-conversion
    if (mode == "raise") ::raise(SIGTERM);
    { const int fd = ::open(ready.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644); if (fd >= 0) ::close(fd); }
    // Wait for the signal (or, when ignored, for the parent to remove `ready`).
    for (int i = 0; i < 3000 && std::filesystem::exists(ready); ++i) ::usleep(10000);
    if (std::filesystem::exists(ready)) return 3;  // nobody came
    f.commit();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
