// The tools that write files, run as processes: an output that is an input
// (same path, hard link, symlink) or not a regular file is refused up front
// with one line and the input left intact; concurrent runs and runs killed
// by SIGTERM/SIGINT leave a whole file or none, never a temporary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "common/files.h"
#include "model/tools/tiny_gguf.h"
#include "model/tools/tiny_llama2c.h"
#include "trix/io/gguf_reader.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

using trix::test::read_text;

void write_bytes(const fs::path& p, const void* data, size_t n) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(static_cast<const char*>(data),
                                                             static_cast<std::streamsize>(n));
}

struct ToolRun {
  int rc = -1;          // exit code, or -1 when killed
  int signal = 0;       // the signal that ended it
  bool timed_out = false;
  double seconds = 0;
  std::string out, err;
};

// Options for starting a tool as a child process.
struct Launch {
  size_t fsize_limit = 0;  // RLIMIT_FSIZE in bytes (SIGXFSZ ignored) when > 0
};

class ToolOutput : public trix::test::TempDirTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(TempDirTest::SetUp());
    fs::create_directory(dir_ / "logs");
  }
  std::string p(const std::string& name) const { return path(name).string(); }

  // Everything in the folder but logs/ (hidden temporaries included).
  std::set<std::string> names() const {
    std::set<std::string> n = TempDirTest::names();
    n.erase("logs");
    return n;
  }
  bool has_temporary() const {
    for (const std::string& n : names()) {
      if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) return true;
    }
    return false;
  }

  pid_t start(const std::string& exe, const std::vector<std::string>& args, const std::string& log,
              const Launch& how = {}) {
    const std::string out = (dir_ / "logs" / (log + ".out")).string();
    const std::string err = (dir_ / "logs" / (log + ".err")).string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || e < 0) ::_exit(126);
      ::dup2(o, 1);
      ::dup2(e, 2);
      // A clean slate, as from a shell: default SIGINT/SIGTERM.
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      if (how.fsize_limit > 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        const rlimit lim{how.fsize_limit, how.fsize_limit};
        ::setrlimit(RLIMIT_FSIZE, &lim);
      }
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(exe.c_str()));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    return pid;
  }
  ToolRun finish(pid_t pid, const std::string& log, Clock::time_point t0, double timeout_s = 60) {
    ToolRun r;
    int status = 0;
    for (;;) {
      const pid_t w = ::waitpid(pid, &status, WNOHANG);
      if (w == pid) break;
      if (std::chrono::duration<double>(Clock::now() - t0).count() > timeout_s) {
        r.timed_out = true;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      ::usleep(2000);
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    r.out = read_text(dir_ / "logs" / (log + ".out"));
    r.err = read_text(dir_ / "logs" / (log + ".err"));
    return r;
  }
  ToolRun run(const std::string& exe, const std::vector<std::string>& args, double timeout_s = 60,
              const Launch& how = {}) {
    const auto t0 = Clock::now();
    return finish(start(exe, args, "run", how), "run", t0, timeout_s);
  }

  // Expects a quick exit 1 with exactly `line` on stderr.
  static void expect_refused(const ToolRun& r, const std::string& line) {
    EXPECT_FALSE(r.timed_out) << "hung: a FIFO opened for writing blocks until a reader comes";
    EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal;
    EXPECT_EQ(r.rc, 1);
    EXPECT_EQ(r.err, line);
    EXPECT_LT(r.seconds, 20.0);
  }

  void make_gguf(const std::string& name) {
    const std::string g = trix::test::tiny_llama_gguf();
    write_bytes(path(name), g.data(), g.size());
  }
  // Rows of x = row-dependent ramps, so every quantizer has work.
  void make_f32(const std::string& name, size_t rows, size_t cols) {
    std::vector<float> x(rows * cols);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 977) - 488) / 97.0f;
    write_bytes(path(name), x.data(), x.size() * sizeof(float));
  }
  void make_llama2c() {
    const auto ck = trix::test::tiny_checkpoint(5, false);
    const auto tk = trix::test::tiny_tokenizer(5);
    write_bytes(path("m.bin"), ck.data(), ck.size());
    write_bytes(path("tok.bin"), tk.data(), tk.size());
  }
};

std::string same_file(const std::string& prefix, const std::string& out, const std::string& in) {
  return prefix + out + ": is the same file as input '" + in + "'\n";
}

// --------------------------------------------------------- trix-quantize

#ifdef TRIX_QUANTIZE_EXE
const std::string kQuantize = TRIX_QUANTIZE_EXE;
const std::string kQ = "trix-quantize: error: ";

TEST_F(ToolOutput, QuantizeRefusesAnOutputThatIsItsInput) {
  make_gguf("in.gguf");
  make_f32("x.f32", 4, 256);
  ASSERT_EQ(::link(path("in.gguf").c_str(), path("hard.gguf").c_str()), 0);
  fs::create_symlink("in.gguf", path("sym.gguf"));
  const std::string in_bytes = read_text(path("in.gguf")), x_bytes = read_text(path("x.f32"));
  const std::set<std::string> before = names();
  expect_refused(run(kQuantize, {"--type", "q8_0", p("in.gguf"), p("in.gguf")}),
                 same_file(kQ, p("in.gguf"), p("in.gguf")));
  expect_refused(run(kQuantize, {"--type", "q8_0", p("in.gguf"), p("hard.gguf")}),
                 same_file(kQ, p("hard.gguf"), p("in.gguf")));
  expect_refused(run(kQuantize, {"--type", "q8_0", p("in.gguf"), p("sym.gguf")}),
                 same_file(kQ, p("sym.gguf"), p("in.gguf")));
  expect_refused(run(kQuantize, {"--type", "q8_0", p("sym.gguf"), p("in.gguf")}),
                 same_file(kQ, p("in.gguf"), p("sym.gguf")));
  expect_refused(run(kQuantize, {"--raw", "--rows", "4", "--cols", "256", "--type", "q8_0", p("x.f32"), p("x.f32")}),
                 same_file(kQ, p("x.f32"), p("x.f32")));
  EXPECT_EQ(read_text(path("in.gguf")), in_bytes);
  EXPECT_EQ(read_text(path("x.f32")), x_bytes);
  EXPECT_EQ(names(), before);
}

TEST_F(ToolOutput, QuantizeInputNamedLikeTheOldTemporaryIsKept) {
  // trix-quantize used to write <out>.tmp: for "x.gguf.tmp x.gguf" that was
  // its own input, truncated to 0 bytes.
  make_gguf("x.gguf.tmp");
  const std::string in_bytes = read_text(path("x.gguf.tmp"));
  const ToolRun r = run(kQuantize, {"--type", "q8_0", p("x.gguf.tmp"), p("x.gguf")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(read_text(path("x.gguf.tmp")), in_bytes);
  const trix::GgufReader out = trix::GgufReader::open(path("x.gguf"));
  EXPECT_EQ(out.tensor("blk.0.attn_q.weight").format, trix::FormatId::Q8_0);
  EXPECT_EQ(names(), (std::set<std::string>{"x.gguf", "x.gguf.tmp"}));
}

TEST_F(ToolOutput, QuantizeRefusesNonRegularOutputsBeforeAnyWork) {
  make_gguf("in.gguf");
  fs::create_directory(path("a_dir"));
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  const std::set<std::string> before = names();
  expect_refused(run(kQuantize, {"--type", "q8_0", p("in.gguf"), p("a_dir")}),
                 kQ + p("a_dir") + ": is a directory, not a regular file\n");
  expect_refused(run(kQuantize, {"--type", "q8_0", p("in.gguf"), p("fifo")}, 20),
                 kQ + p("fifo") + ": is a FIFO, not a regular file\n");
  EXPECT_TRUE(fs::is_fifo(path("fifo")));
  EXPECT_TRUE(fs::is_empty(path("a_dir")));
  EXPECT_EQ(names(), before);
}

// Separate, so the old-code check can leave it out: the old tool, run as
// root, renamed its temporary over /dev/null.
TEST_F(ToolOutput, QuantizeRefusesDevNull) {
  make_gguf("in.gguf");
  expect_refused(run(kQuantize, {"--type", "q8_0", p("in.gguf"), "/dev/null"}),
                 kQ + "/dev/null: is a character device, not a regular file\n");
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  EXPECT_EQ(names(), std::set<std::string>{"in.gguf"});
}

TEST_F(ToolOutput, QuantizeConcurrentRunsToOneOutputEachWriteAWholeFile) {
  make_f32("x.f32", 4096, 512);  // 8 MiB: the runs overlap
  const std::vector<std::string> shape = {"--raw", "--threads", "1", "--rows", "4096", "--cols", "512"};
  auto args = [&](const std::string& type, const std::string& out) {
    std::vector<std::string> a = shape;
    a.insert(a.end(), {"--type", type, p("x.f32"), p(out)});
    return a;
  };
  // References, one at a time.
  ASSERT_EQ(run(kQuantize, args("q8_0", "ref_q8_0.bin")).rc, 0);
  ASSERT_EQ(run(kQuantize, args("f16", "ref_f16.bin")).rc, 0);
  const std::string ref_q8 = read_text(path("ref_q8_0.bin")), ref_f16 = read_text(path("ref_f16.bin"));
  ASSERT_NE(ref_q8.size(), ref_f16.size());
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const auto t0 = Clock::now();
    const pid_t a = start(kQuantize, args("q8_0", "out.bin"), "a");
    const pid_t b = start(kQuantize, args("f16", "out.bin"), "b");
    const ToolRun ra = finish(a, "a", t0), rb = finish(b, "b", t0);
    EXPECT_EQ(ra.rc, 0) << ra.err;
    EXPECT_EQ(rb.rc, 0) << rb.err;
    const std::string got = read_text(path("out.bin"));
    EXPECT_TRUE(got == ref_q8 || got == ref_f16) << "output of " << got.size() << " bytes is neither run's";
    EXPECT_FALSE(has_temporary());
  }
}

TEST_F(ToolOutput, QuantizeKilledBySigtermOrSigintLeavesNoTemporary) {
  make_f32("x.f32", 8192, 1024);  // 32 MiB: seconds of work under ASan, 1 thread
  make_gguf("out.bin");           // an existing output must survive
  const std::string old_out = read_text(path("out.bin"));
  for (int sig : {SIGTERM, SIGINT}) {
    SCOPED_TRACE(sig);
    const auto t0 = Clock::now();
    const pid_t pid = start(kQuantize, {"--raw", "--threads", "1", "--rows", "8192", "--cols", "1024", "--type",
                                        "q6_k", p("x.f32"), p("out.bin")},
                            "kill");
    // Wait for the temporary to appear (it exists for the whole run).
    while (!has_temporary() && Clock::now() - t0 < std::chrono::seconds(30)) ::usleep(500);
    ASSERT_TRUE(has_temporary()) << "no temporary seen";
    ::kill(pid, sig);
    const ToolRun r = finish(pid, "kill", t0);
    EXPECT_EQ(r.signal, sig) << "rc " << r.rc << ": " << r.err;  // still dies of the signal
    EXPECT_EQ(names(), (std::set<std::string>{"out.bin", "x.f32"}));
    EXPECT_EQ(read_text(path("out.bin")), old_out);
  }
}

TEST_F(ToolOutput, QuantizeWriteErrorLeavesTheOldOutputAndNoTemporary) {
  make_f32("x.f32", 1024, 256);
  make_gguf("out.bin");
  const std::string old_out = read_text(path("out.bin"));
  Launch small;
  small.fsize_limit = 64 << 10;  // the q8_0 output needs 272 KiB
  const ToolRun r = run(kQuantize, {"--raw", "--rows", "1024", "--cols", "256", "--type", "q8_0", p("x.f32"),
                                    p("out.bin")},
                        60, small);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find(p("out.bin") + ": write failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("File too large"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(path("out.bin")), old_out);
  EXPECT_EQ(names(), (std::set<std::string>{"out.bin", "x.f32"}));
}
#endif

// ------------------------------------------------- trix-convert-llama2c

#ifdef TRIX_CONVERT_LLAMA2C_EXE
const std::string kLlama2c = TRIX_CONVERT_LLAMA2C_EXE;

TEST_F(ToolOutput, ConvertLlama2cRefusesAnOutputThatIsAnInput) {
  make_llama2c();
  ASSERT_EQ(::link(path("m.bin").c_str(), path("m_hard.bin").c_str()), 0);
  fs::create_symlink(path("tok.bin"), path("tok_link.bin"));
  const std::string m = read_text(path("m.bin")), t = read_text(path("tok.bin"));
  const std::set<std::string> before = names();
  // Used to die of SIGBUS, the mmapped checkpoint truncated under it.
  expect_refused(run(kLlama2c, {p("m.bin"), p("tok.bin"), p("m.bin")}),
                 same_file("error: ", p("m.bin"), p("m.bin")));
  expect_refused(run(kLlama2c, {p("m.bin"), p("tok.bin"), p("tok.bin")}),
                 same_file("error: ", p("tok.bin"), p("tok.bin")));
  expect_refused(run(kLlama2c, {p("m.bin"), p("tok.bin"), p("m_hard.bin")}),
                 same_file("error: ", p("m_hard.bin"), p("m.bin")));
  expect_refused(run(kLlama2c, {p("m.bin"), p("tok.bin"), p("tok_link.bin")}),
                 same_file("error: ", p("tok_link.bin"), p("tok.bin")));
  EXPECT_EQ(read_text(path("m.bin")), m);
  EXPECT_EQ(read_text(path("tok.bin")), t);
  EXPECT_EQ(names(), before);
  // And the same inputs convert to a new file.
  const ToolRun ok = run(kLlama2c, {p("m.bin"), p("tok.bin"), p("out.gguf")});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(trix::GgufReader::open(path("out.gguf")).get_u32("llama.vocab_size"), 5u);
  EXPECT_FALSE(has_temporary());
}

TEST_F(ToolOutput, ConvertLlama2cRefusesNonRegularOutputs) {
  make_llama2c();
  fs::create_directory(path("a_dir"));
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  expect_refused(run(kLlama2c, {p("m.bin"), p("tok.bin"), p("a_dir")}),
                 "error: " + p("a_dir") + ": is a directory, not a regular file\n");
  expect_refused(run(kLlama2c, {p("m.bin"), p("tok.bin"), p("fifo")}, 20),
                 "error: " + p("fifo") + ": is a FIFO, not a regular file\n");
  EXPECT_TRUE(fs::is_fifo(path("fifo")));
  EXPECT_EQ(names(), (std::set<std::string>{"a_dir", "fifo", "m.bin", "tok.bin"}));
}
#endif

// --------------------------------------------------- trix-convert-trin

#ifdef TRIX_CONVERT_TRIN_EXE
const std::string kTrin = TRIX_CONVERT_TRIN_EXE;

// The check comes before the TRIN, base or scales are read, so their
// contents do not matter here (trin_convert_test converts real ones).
TEST_F(ToolOutput, ConvertTrinRefusesAnOutputThatIsAnInput) {
  make_gguf("base.gguf");
  write_bytes(path("w.trin"), "TRIN", 4);
  write_bytes(path("scales.txt"), "x 1\n", 4);
  fs::create_symlink("base.gguf", path("base_link.gguf"));
  const std::string base = read_text(path("base.gguf"));
  const std::set<std::string> before = names();
  const std::vector<std::string> common = {"--model", "stories260k", "--trin", p("w.trin"), "--base",
                                           p("base.gguf"), "--scales", p("scales.txt")};
  auto with_out = [&](const std::string& out) {
    std::vector<std::string> a = common;
    a.push_back(out);
    return a;
  };
  expect_refused(run(kTrin, with_out(p("base.gguf"))), same_file("error: ", p("base.gguf"), p("base.gguf")));
  expect_refused(run(kTrin, with_out(p("base_link.gguf"))),
                 same_file("error: ", p("base_link.gguf"), p("base.gguf")));
  expect_refused(run(kTrin, with_out(p("w.trin"))), same_file("error: ", p("w.trin"), p("w.trin")));
  expect_refused(run(kTrin, with_out(p("scales.txt"))), same_file("error: ", p("scales.txt"), p("scales.txt")));
  expect_refused(run(kTrin, with_out("/dev/null")), "error: /dev/null: is a character device, not a regular file\n");
  EXPECT_EQ(read_text(path("base.gguf")), base);
  EXPECT_EQ(read_text(path("w.trin")), "TRIN");
  EXPECT_EQ(read_text(path("scales.txt")), "x 1\n");
  EXPECT_EQ(names(), before);
}
#endif

// ------------------------------------------ trix-make-synthetic-bitnet

#ifdef TRIX_MAKE_SYNTHETIC_EXE
const std::string kSynthetic = TRIX_MAKE_SYNTHETIC_EXE;

TEST_F(ToolOutput, MakeSyntheticRefusesNonRegularOutputsAndWritesAtomically) {
  fs::create_directory(path("a_dir"));
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0644), 0);
  expect_refused(run(kSynthetic, {"--small", "--type", "i2_s", p("a_dir")}),
                 "error: " + p("a_dir") + ": is a directory, not a regular file\n");
  expect_refused(run(kSynthetic, {"--small", "--type", "i2_s", p("fifo")}, 20),
                 "error: " + p("fifo") + ": is a FIFO, not a regular file\n");
  EXPECT_TRUE(fs::is_fifo(path("fifo")));
  const ToolRun ok = run(kSynthetic, {"--small", "--type", "i2_s", p("m.gguf")});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(names(), (std::set<std::string>{"a_dir", "fifo", "m.gguf"}));
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(fs::status(path("m.gguf")).permissions() & fs::perms::all, fs::perms(0666 & ~mask));
}
#endif

}  // namespace
