// One safe way to write a user-named output file. Every TriX tool and
// library function that writes a file goes through trix::OutputFile.
//
// Contract:
//  - The output is checked before anything is opened for writing: it must
//    not be the same file as any input (st_dev + st_ino after following
//    symlinks, so hard links and symlinks to an input are caught) and, if it
//    exists, it must be a regular file (not a directory, device such as
//    /dev/null, FIFO or socket). A symlink to a regular file is followed: the
//    file it names is replaced, the link stays.
//  - Bytes go to a fresh temporary in the output's folder
//    (".<name>.XXXXXX.tmp", mkstemp), so concurrent writers never share one.
//    commit() flushes, fsyncs, renames it over the output in one step and
//    fsyncs the folder (best effort: some file systems refuse it). The
//    result has the mode a plain create would give (0666 & ~umask).
//  - Until commit() succeeds the output is untouched: an exception, an
//    OutputFile destroyed without commit(), or SIGINT / SIGTERM / SIGHUP
//    removes the temporary.
//
// Signals: on first use, handlers are installed for SIGINT, SIGTERM and
// SIGHUP. They unlink every live temporary of this process (paths sit in a
// fixed static table, so the handler only reads memory and calls unlink).
// Then, for a signal whose previous disposition was the default, the handler
// restores the default and re-raises, so the process still dies of the
// signal (a shell sees 128 + signo). A handler the program installed before
// is kept and called after the unlink (the interrupted write then fails in
// commit(), the old output stays); an ignored signal stays ignored and gets
// no handler. A handler installed after the first OutputFile replaces ours:
// then only destructors clean up. More than kMaxLiveTemps temporaries at
// once still work; the extra ones are just not removed on a signal.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <ostream>
#include <span>
#include <streambuf>
#include <string>
#include <system_error>
#include <vector>

#include "trix/core/error.h"

namespace trix {

namespace detail {

// -------------------------------------------------------- live temporaries
inline constexpr size_t kMaxLiveTemps = 64;
inline constexpr size_t kTempPathMax = 4096;

struct LiveTemp {
  enum : int { kFree = 0, kBusy = 1, kLive = 2 };
  std::atomic<int> state{kFree};
  std::atomic<pid_t> owner{0};  // a forked child must not remove its parent's temporaries
  char path[kTempPathMax];
};

inline LiveTemp g_live_temps[kMaxLiveTemps];
inline constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};
inline struct sigaction g_previous_actions[std::size(kCleanupSignals)];

// Async-signal-safe: atomics, getpid, unlink, sigaction, raise.
inline void on_cleanup_signal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  const pid_t self = ::getpid();
  for (LiveTemp& t : g_live_temps) {
    if (t.state.load(std::memory_order_acquire) == LiveTemp::kLive &&
        t.owner.load(std::memory_order_relaxed) == self) {
      ::unlink(t.path);
    }
  }
  const struct sigaction* prev = nullptr;
  for (size_t i = 0; i < std::size(kCleanupSignals); ++i) {
    if (kCleanupSignals[i] == sig) prev = &g_previous_actions[i];
  }
  if (prev && (prev->sa_flags & SA_SIGINFO) != 0 && prev->sa_sigaction != nullptr) {
    prev->sa_sigaction(sig, info, context);
  } else if (prev && (prev->sa_flags & SA_SIGINFO) == 0 && prev->sa_handler != SIG_DFL &&
             prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
  } else {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(sig, &dfl, nullptr);
    ::raise(sig);  // pending until this handler returns, then kills
  }
  errno = saved_errno;
}

inline void install_cleanup_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (size_t i = 0; i < std::size(kCleanupSignals); ++i) {
      const int sig = kCleanupSignals[i];
      if (::sigaction(sig, nullptr, &g_previous_actions[i]) != 0) continue;
      const bool ignored = (g_previous_actions[i].sa_flags & SA_SIGINFO) == 0 &&
                           g_previous_actions[i].sa_handler == SIG_IGN;
      if (ignored) continue;  // e.g. nohup, or a background job: stay ignored
      struct sigaction act {};
      act.sa_sigaction = &on_cleanup_signal;
      act.sa_flags = SA_SIGINFO | SA_RESTART;
      sigemptyset(&act.sa_mask);
      ::sigaction(sig, &act, nullptr);
    }
  });
}

// Blocks the cleanup signals for the current thread while in scope, so a
// temporary is never created without being in the table.
class BlockCleanupSignals {
 public:
  BlockCleanupSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : kCleanupSignals) sigaddset(&set, sig);
    ::pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~BlockCleanupSignals() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  BlockCleanupSignals(const BlockCleanupSignals&) = delete;
  BlockCleanupSignals& operator=(const BlockCleanupSignals&) = delete;

 private:
  sigset_t old_;
};

// Returns the slot holding `path`, or -1 when the table is full or the path
// too long (the temporary then has no signal cleanup, only RAII).
inline int register_live_temp(const std::string& path) {
  if (path.size() >= kTempPathMax) return -1;
  for (size_t i = 0; i < kMaxLiveTemps; ++i) {
    LiveTemp& t = g_live_temps[i];
    int expected = LiveTemp::kFree;
    if (!t.state.compare_exchange_strong(expected, LiveTemp::kBusy, std::memory_order_acquire)) continue;
    std::memcpy(t.path, path.c_str(), path.size() + 1);
    t.owner.store(::getpid(), std::memory_order_relaxed);
    t.state.store(LiveTemp::kLive, std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

inline void release_live_temp(int slot) {
  if (slot >= 0) g_live_temps[slot].state.store(LiveTemp::kFree, std::memory_order_release);
}

// ------------------------------------------------------------- file checks
inline const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// The mode a plain open(O_CREAT, 0666) would give a new file.
inline mode_t created_file_mode() {
  // /proc/self/status has the umask (Linux >= 4.7) without changing it;
  // elsewhere set-and-restore under a lock (racy only against other threads
  // creating files at the same instant).
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    unsigned mask = 0;
    bool found = false;
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "Umask: %o", &mask) == 1) {
        found = true;
        break;
      }
    }
    std::fclose(f);
    if (found) return static_cast<mode_t>(0666 & ~mask);
  }
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  const mode_t mask = ::umask(022);
  ::umask(mask);
  return static_cast<mode_t>(0666 & ~mask);
}

inline std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// streambuf over a file descriptor: buffers, writes with write(2), keeps the
// first error's errno.
class FdStreamBuf : public std::streambuf {
 public:
  FdStreamBuf() : buf_(size_t{1} << 20) { setp(buf_.data(), buf_.data() + buf_.size()); }
  void set_fd(int fd) { fd_ = fd; }
  int error() const { return error_; }
  uint64_t bytes() const { return bytes_ + static_cast<uint64_t>(pptr() - pbase()); }
  // Writes the buffer out; false on error (see error()).
  bool drain() {
    const char* p = pbase();
    size_t n = static_cast<size_t>(pptr() - pbase());
    while (n > 0 && error_ == 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        break;
      }
      p += w;
      n -= static_cast<size_t>(w);
      bytes_ += static_cast<uint64_t>(w);
    }
    setp(buf_.data(), buf_.data() + buf_.size());
    return error_ == 0;
  }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  std::vector<char> buf_;
  int fd_ = -1;
  int error_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace detail

// Throws trix::Error unless `out` may be written as an output of a program
// reading `inputs`: not the same file as any of them, and not an existing
// non-regular file. Inputs that do not exist are skipped (their reader
// reports them). Cheap (a few stat calls): tools call it right after parsing
// their arguments, before any work.
inline void check_output_path(const std::filesystem::path& out,
                              const std::vector<std::filesystem::path>& inputs = {}) {
  const std::string name = out.string();
  if (name.empty()) throw Error("output path is empty");
  struct stat so {};
  if (::stat(name.c_str(), &so) != 0) {
    const int e = errno;
    if (e == ENOENT) return;  // a new file (a dangling symlink is replaced)
    throw Error(name + ": cannot check output path: " + detail::errno_text(e));
  }
  if (!S_ISREG(so.st_mode)) {
    throw Error(name + ": is " + detail::file_kind(so.st_mode) + ", not a regular file");
  }
  for (const std::filesystem::path& in : inputs) {
    if (in.empty()) continue;
    struct stat si {};
    if (::stat(in.c_str(), &si) != 0) continue;
    if (si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
      throw Error(name + ": is the same file as input '" + in.string() + "'");
    }
  }
}

// An output file written through a temporary and renamed into place by
// commit(). Not copyable or movable (stream() hands out a reference).
//
//   trix::OutputFile out(path, {input_path});  // checks, creates the temporary
//   out.write(bytes);  // or out.stream() << ...
//   out.commit();      // without it, nothing is left behind
class OutputFile {
 public:
  explicit OutputFile(const std::filesystem::path& path, const std::vector<std::filesystem::path>& inputs = {})
      : path_(path), name_(path.string()), inputs_(inputs), stream_(&buf_) {
    check_output_path(path_, inputs_);
    target_ = path_;
    std::error_code ec;
    if (std::filesystem::is_symlink(path_, ec) && std::filesystem::exists(path_, ec)) {
      target_ = std::filesystem::canonical(path_, ec);
      if (ec) throw Error(name_ + ": cannot resolve symlink: " + ec.message());
    }
    const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : ".";
    std::filesystem::path tmp = std::filesystem::absolute(dir, ec);
    if (ec) throw Error(name_ + ": cannot resolve folder '" + dir.string() + "': " + ec.message());
    std::string leaf = ".";  // appended piecewise: GCC 12 -O3 -Wrestrict false positive on "." + string
    leaf += target_.filename().string();
    leaf += ".XXXXXX.tmp";
    tmp /= leaf;
    std::string pattern = tmp.string();
    const mode_t mode = detail::created_file_mode();
    detail::install_cleanup_handlers();
    {
      detail::BlockCleanupSignals block;
      fd_ = ::mkostemps(pattern.data(), 4, O_CLOEXEC);
      if (fd_ < 0) {
        const int e = errno;
        throw Error(name_ + ": cannot create a temporary in '" + dir.string() + "': " + detail::errno_text(e));
      }
      temp_ = pattern;
      slot_ = detail::register_live_temp(temp_);
    }
    if (::fchmod(fd_, mode) != 0) {
      const int e = errno;
      discard();
      throw Error(temp_ + ": cannot set mode: " + detail::errno_text(e));
    }
    buf_.set_fd(fd_);
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() { discard(); }

  // The bytes go here; errors surface in write() and commit().
  std::ostream& stream() { return stream_; }

  void write(std::span<const uint8_t> bytes) {
    check_writable();
    stream_.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!stream_) throw write_error();
  }
  void write(const void* data, size_t n) {
    write(std::span<const uint8_t>(static_cast<const uint8_t*>(data), n));
  }

  // Flushes, fsyncs and renames the temporary over the output. Throws
  // trix::Error (and removes the temporary) on any failure; the output is
  // then as it was.
  void commit() {
    check_writable();
    if (!stream_.flush() || !buf_.drain()) throw fail(write_error());
    if (::fsync(fd_) != 0) throw fail(Error(name_ + ": fsync failed: " + detail::errno_text(errno)));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw fail(Error(name_ + ": close failed: " + detail::errno_text(errno)));
    // Again, in case the output changed while we wrote (e.g. replaced by a
    // directory or a hard link to an input).
    try {
      check_output_path(target_, inputs_);
    } catch (const Error& e) {
      throw fail(e);
    }
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      throw fail(Error(name_ + ": cannot rename temporary '" + temp_ + "' into place: " +
                       detail::errno_text(errno)));
    }
    detail::release_live_temp(slot_);
    slot_ = -1;
    temp_.clear();
    committed_ = true;
    sync_folder();
  }

  const std::filesystem::path& path() const { return path_; }
  // The temporary's path ("" once committed or discarded).
  const std::string& temp_path() const { return temp_; }
  uint64_t bytes_written() const { return buf_.bytes(); }
  // Why the first write failed ("" when none did), e.g. "No space left on device".
  std::string write_error_text() const { return buf_.error() ? detail::errno_text(buf_.error()) : ""; }
  bool committed() const { return committed_; }

 private:
  void check_writable() const {
    if (committed_) throw Error(name_ + ": already committed");
    if (temp_.empty()) throw Error(name_ + ": output was discarded after an error");
  }
  Error write_error() const {
    std::string m = name_ + ": write failed after " + std::to_string(buf_.bytes()) + " bytes";
    if (buf_.error() != 0) {
      m += ": ";
      m += detail::errno_text(buf_.error());
    }
    return Error(m);
  }
  Error fail(Error e) {
    discard();
    return e;
  }
  // Closes and removes the temporary (no-op once committed).
  void discard() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!temp_.empty()) {
      ::unlink(temp_.c_str());
      detail::release_live_temp(slot_);
      slot_ = -1;
      temp_.clear();
    }
  }
  void sync_folder() const noexcept {
    const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    (void)::fsync(dfd);  // best effort: the rename is done, the data fsynced
    ::close(dfd);
  }

  std::filesystem::path path_, target_;
  std::string name_;
  std::vector<std::filesystem::path> inputs_;
  std::string temp_;
  int fd_ = -1;
  int slot_ = -1;
  bool committed_ = false;
  detail::FdStreamBuf buf_;
  std::ostream stream_;
};

}  // namespace trix
