// A read-only memory mapping of a whole regular file (directories, FIFOs
// and devices are refused with a message naming the path and its kind).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trix/core/error.h"
namespace trix {

// Read-only file mapping; unmapped when the last reader sharing it goes.
class MappedFile {
 public:
  // Maps `path` read-only. Throws trix::Error naming the file on failure.
  explicit MappedFile(const std::filesystem::path& path) {
    const std::string name = path.string();
    // O_NONBLOCK: opening a FIFO must not wait for a writer; the check
    // below then refuses it (only a regular file has a size to trust).
    const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw Error(name + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      ::close(fd);
      throw Error(name + ": cannot stat: " + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error(name + ": not a regular file (" + file_kind(st.st_mode) +
                  "); expected a file whose size is known");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        throw Error(name + ": cannot mmap " + std::to_string(size_) + " bytes: " + std::strerror(e));
      }
      data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

  // Drops this process's pages of [p, p + n) (the whole pages inside it)
  // from the mapping: they stop counting in its resident memory and are
  // read again from the page cache (the file is unchanged, the mapping
  // read-only and private) if touched later. For bytes already copied
  // elsewhere, e.g. weights repacked at load time. A range outside the
  // mapping is ignored; so is a failing madvise (it is advice).
  void release_pages(const void* p, size_t n) const {
    const auto b = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(data_);
    if (b < base || n > size_ || b - base > size_ - n) return;
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t lo = (b + page - 1) / page * page;
    const uintptr_t hi = (b + n) / page * page;
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
  }

  // "directory", "FIFO", ... for messages about a path that is not a file.
  static std::string file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
  }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace trix
