// trix::OutputFile: same-file and non-regular outputs refused before
// anything is written, unique temporaries, replace-on-commit only, cleanup on
// errors and on SIGINT/SIGTERM, umask-conform permissions.
#include "trix/io/output_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/expect_error.h"
#include "common/files.h"
#include "trix/io/gguf_reader.h"
#include "trix/io/gguf_writer.h"

namespace trix {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

using OutputFileTest = trix::test::TempDirTest;
using trix::test::error_of;
using trix::test::read_text;

TEST_F(OutputFileTest, NewOutputAppearsOnlyOnCommit) {
  OutputFile out(path("o.gguf"));
  const std::string tmp = fs::path(out.temp_path()).filename().string();
  EXPECT_EQ(fs::path(out.temp_path()).parent_path(), fs::absolute(dir_));
  EXPECT_EQ(tmp.rfind(".o.gguf.", 0), 0u) << tmp;
  EXPECT_EQ(tmp.size(), std::string(".o.gguf.XXXXXX.tmp").size()) << tmp;
  out.stream() << "hello ";
  out.write("world", 5);
  EXPECT_FALSE(fs::exists(path("o.gguf")));
  EXPECT_EQ(names(), std::set<std::string>{tmp});
  out.commit();
  EXPECT_EQ(read_text(path("o.gguf")), "hello world");
  EXPECT_EQ(out.bytes_written(), 11u);
  EXPECT_EQ(names(), std::set<std::string>{"o.gguf"});
  EXPECT_NE(error_of([&] { out.write("x", 1); }).find("already committed"), std::string::npos);
}

TEST_F(OutputFileTest, ExistingOutputIsReplacedOnlyOnSuccess) {
  write_text(path("o"), "old");
  {
    OutputFile out(path("o"));
    out.write("new bytes", 9);
  }  // dropped without commit
  EXPECT_EQ(read_text(path("o")), "old");
  EXPECT_EQ(names(), std::set<std::string>{"o"});
  EXPECT_THROW(
      {
        OutputFile out(path("o"));
        out.write("new bytes", 9);
        throw std::runtime_error("conversion failed midway");
      },
      std::runtime_error);
  EXPECT_EQ(read_text(path("o")), "old");
  EXPECT_EQ(names(), std::set<std::string>{"o"});
  OutputFile out(path("o"));
  out.write("new bytes", 9);
  EXPECT_EQ(read_text(path("o")), "old");
  out.commit();
  EXPECT_EQ(read_text(path("o")), "new bytes");
}

TEST_F(OutputFileTest, OutputThatIsAnInputIsRefusedBeforeAnythingIsCreated) {
  write_text(path("in.gguf"), "input bytes");
  ASSERT_EQ(::link(path("in.gguf").c_str(), path("hard.gguf").c_str()), 0);
  fs::create_symlink("in.gguf", path("sym.gguf"));
  fs::create_symlink(path("in.gguf"), path("abs_sym.gguf"));
  const std::set<std::string> before = names();
  const std::string in = path("in.gguf").string();
  // The same path, spelled the same or differently.
  EXPECT_EQ(error_of([&] { OutputFile o(path("in.gguf"), {path("in.gguf")}); }),
            in + ": is the same file as input '" + in + "'");
  EXPECT_EQ(error_of([&] { OutputFile o(dir_ / "." / "in.gguf", {path("in.gguf")}); }),
            (dir_ / "." / "in.gguf").string() + ": is the same file as input '" + in + "'");
  // A hard link, and symlinks (relative and absolute) to the input.
  EXPECT_EQ(error_of([&] { OutputFile o(path("hard.gguf"), {path("other"), path("in.gguf")}); }),
            path("hard.gguf").string() + ": is the same file as input '" + in + "'");
  EXPECT_EQ(error_of([&] { OutputFile o(path("sym.gguf"), {path("in.gguf")}); }),
            path("sym.gguf").string() + ": is the same file as input '" + in + "'");
  EXPECT_EQ(error_of([&] { OutputFile o(path("abs_sym.gguf"), {path("in.gguf")}); }),
            path("abs_sym.gguf").string() + ": is the same file as input '" + in + "'");
  // The input named through a link, the output by its real path.
  EXPECT_EQ(error_of([&] { OutputFile o(path("in.gguf"), {path("sym.gguf")}); }),
            in + ": is the same file as input '" + path("sym.gguf").string() + "'");
  EXPECT_EQ(error_of([&] { check_output_path(path("hard.gguf"), {path("sym.gguf")}); }),
            path("hard.gguf").string() + ": is the same file as input '" + path("sym.gguf").string() + "'");
  EXPECT_EQ(read_text(path("in.gguf")), "input bytes");
  EXPECT_EQ(names(), before);  // no temporary was made
  // A new output, and inputs that do not exist (their reader reports them).
  OutputFile ok(path("new.gguf"), {path("in.gguf"), path("missing.gguf")});
  ok.commit();
  EXPECT_TRUE(fs::exists(path("new.gguf")));
}

TEST_F(OutputFileTest, NonRegularOutputsAreRefusedUpFront) {
  fs::create_directory(path("a_dir"));
  fs::create_symlink("a_dir", path("dir_link"));
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = path("sock").string();
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  const std::set<std::string> before = names();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] { OutputFile o(path("a_dir")); }),
            path("a_dir").string() + ": is a directory, not a regular file");
  EXPECT_EQ(error_of([&] { OutputFile o(path("dir_link")); }),
            path("dir_link").string() + ": is a directory, not a regular file");
  EXPECT_EQ(error_of([&] { OutputFile o("/dev/null"); }), "/dev/null: is a character device, not a regular file");
  EXPECT_EQ(error_of([&] { OutputFile o(path("fifo")); }), path("fifo").string() + ": is a FIFO, not a regular file");
  EXPECT_EQ(error_of([&] { OutputFile o(path("sock")); }),
            path("sock").string() + ": is a socket, not a regular file");
  EXPECT_EQ(error_of([&] { OutputFile o(""); }), "output path is empty");
  EXPECT_EQ(error_of([&] { OutputFile o(path("no_such_dir") / "o"); }).rfind(
                (path("no_such_dir") / "o").string() + ": cannot create a temporary in '", 0),
            0u);
  // Opening a FIFO for writing would block until a reader comes.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(names(), before);
  EXPECT_TRUE(fs::is_empty(path("a_dir")));
  ::close(sock);
}

TEST_F(OutputFileTest, SymlinkOutputReplacesTheFileItNames) {
  write_text(path("v1.gguf"), "v1");
  fs::create_symlink("v1.gguf", path("current.gguf"));
  OutputFile out(path("current.gguf"));
  out.write("v2", 2);
  out.commit();
  EXPECT_TRUE(fs::is_symlink(path("current.gguf")));
  EXPECT_EQ(read_text(path("v1.gguf")), "v2");
  EXPECT_EQ(names(), (std::set<std::string>{"current.gguf", "v1.gguf"}));
}

TEST_F(OutputFileTest, PermissionsFollowTheUmask) {
  const mode_t old = ::umask(027);
  {
    OutputFile out(path("a"));
    out.commit();
  }
  ::umask(0);
  {
    OutputFile out(path("b"));
    out.commit();
  }
  ::umask(old);
  EXPECT_EQ(fs::status(path("a")).permissions(), fs::perms(0640));
  EXPECT_EQ(fs::status(path("b")).permissions(), fs::perms(0666));
}

TEST_F(OutputFileTest, ConcurrentWritersToOneOutputUseTheirOwnTemporaries) {
  // Two open at once in one process: distinct temporaries, last commit wins.
  {
    OutputFile a(path("o")), b(path("o"));
    EXPECT_NE(a.temp_path(), b.temp_path());
    a.write(std::string(1000, 'a').data(), 1000);
    b.write(std::string(2000, 'b').data(), 2000);
    a.commit();
    EXPECT_EQ(read_text(path("o")), std::string(1000, 'a'));
    b.commit();
    EXPECT_EQ(read_text(path("o")), std::string(2000, 'b'));
  }
  // Eight processes writing 4 MiB each in small chunks: all succeed and the
  // output is one of them, whole.
  constexpr int kWriters = 8;
  constexpr size_t kBytes = size_t{4} << 20;
  std::vector<pid_t> pids;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        OutputFile out(path("shared.bin"));
        const std::string chunk(4096, static_cast<char>('A' + w));
        for (size_t n = 0; n < kBytes; n += chunk.size()) out.write(chunk.data(), chunk.size());
        out.commit();
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  const std::string got = read_text(path("shared.bin"));
  ASSERT_EQ(got.size(), kBytes);
  EXPECT_TRUE(got[0] >= 'A' && got[0] < 'A' + kWriters);
  EXPECT_EQ(got, std::string(kBytes, got[0]));
  EXPECT_EQ(names(), (std::set<std::string>{"o", "shared.bin"}));
}

TEST_F(OutputFileTest, WriteErrorLeavesNeitherTemporaryNorChangedOutput) {
  write_text(path("o"), "old");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A real I/O error: files may not grow past 64 KiB in this child.
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{65536, 65536};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(2);
    try {
      OutputFile out(path("o"));
      const std::vector<uint8_t> big(size_t{1} << 20, 1);
      out.write(big);
      out.commit();
    } catch (const Error& e) {
      const std::string m = e.what();
      ::_exit(m.rfind(path("o").string() + ": write failed after ", 0) == 0 &&
                      m.find("File too large") != std::string::npos
                  ? 0
                  : 3);
    }
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(read_text(path("o")), "old");
  EXPECT_EQ(names(), std::set<std::string>{"o"});
}

TEST_F(OutputFileTest, GgufWriterDroppedBeforeFinishLeavesNothing) {
  write_text(path("m.gguf"), "old");
  {
    GgufWriter w(path("m.gguf"));
    w.set_u32("a", 1);
    w.add_tensor("t", FormatId::F32, {4});
    const float x[2] = {1, 2};
    w.write_tensor_data(std::span<const float>(x, 2));
  }
  EXPECT_EQ(read_text(path("m.gguf")), "old");
  EXPECT_EQ(names(), std::set<std::string>{"m.gguf"});
  EXPECT_EQ(error_of([&] { GgufWriter w(path("m.gguf"), {path("m.gguf")}); }),
            path("m.gguf").string() + ": is the same file as input '" + path("m.gguf").string() + "'");
  {
    GgufWriter w(path("m.gguf"));
    w.set_u32("a", 1);
    w.finish();
  }
  EXPECT_EQ(GgufReader::open(path("m.gguf")).get_u32("a"), 1u);
  EXPECT_EQ(names(), std::set<std::string>{"m.gguf"});
}

// ------------------------------------------------------------- signals

#ifdef TRIX_SIGNAL_CHILD_EXE
struct ChildEnd {
  bool signalled = false;
  int signal = 0;
  int exit_code = -1;
};

class OutputFileSignals : public OutputFileTest {
 protected:
  // Runs the helper; when `send` != 0, sends it once it is ready.
  ChildEnd run_child(const std::string& mode, int send, bool release_after_send = false) {
    const std::string out = path("o.gguf").string(), ready = path("ready").string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(TRIX_SIGNAL_CHILD_EXE, TRIX_SIGNAL_CHILD_EXE, mode.c_str(), out.c_str(), ready.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    EXPECT_GT(pid, 0);
    if (send != 0) {
      for (int i = 0; i < 3000 && !fs::exists(path("ready")); ++i) ::usleep(10000);
      EXPECT_TRUE(fs::exists(path("ready")));
      ::kill(pid, send);
      if (release_after_send) {
        ::usleep(200000);
        fs::remove(path("ready"));
      }
    }
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    ChildEnd e;
    e.signalled = WIFSIGNALED(status);
    e.signal = e.signalled ? WTERMSIG(status) : 0;
    e.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    fs::remove(path("ready"));
    return e;
  }
};

TEST_F(OutputFileSignals, SigtermAndSigintRemoveTheTemporaryAndStillKill) {
  for (int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(sig);
    const ChildEnd e = run_child("default", sig);
    EXPECT_TRUE(e.signalled);
    EXPECT_EQ(e.signal, sig);
    EXPECT_TRUE(names().empty()) << *names().begin();
  }
  // An existing output survives the kill unchanged.
  write_text(path("o.gguf"), "old");
  const ChildEnd e = run_child("default", SIGTERM);
  EXPECT_EQ(e.signal, SIGTERM);
  EXPECT_EQ(read_text(path("o.gguf")), "old");
  EXPECT_EQ(names(), std::set<std::string>{"o.gguf"});
}

TEST_F(OutputFileSignals, RaisedSignalRemovesTheTemporary) {
  const ChildEnd e = run_child("raise", 0);
  EXPECT_TRUE(e.signalled);
  EXPECT_EQ(e.signal, SIGTERM);
  EXPECT_TRUE(names().empty());
}

TEST_F(OutputFileSignals, AProgramsOwnHandlerStillRuns) {
  const ChildEnd e = run_child("chained", SIGTERM);
  EXPECT_EQ(e.exit_code, 42);  // its handler ran (and exited)
  EXPECT_EQ(names(), std::set<std::string>{"o.gguf.handled"});  // and the temporary is gone
}

TEST_F(OutputFileSignals, AnIgnoredSignalStaysIgnored) {
  const ChildEnd e = run_child("ignored", SIGTERM, /*release_after_send=*/true);
  EXPECT_FALSE(e.signalled);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(fs::file_size(path("o.gguf")), size_t{1} << 20);
  EXPECT_EQ(names(), std::set<std::string>{"o.gguf"});
}
#endif

}  // namespace
}  // namespace trix
