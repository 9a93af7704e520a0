// HugePageBuffer: 64-byte aligned, zero-filled anonymous memory backed by
// transparent huge pages where the kernel allows; for weights the kernels
// stream (repacked ternary weights, K-quant rows).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif
namespace trix {

// Anonymous memory for repacked weights: 64-byte aligned, backed by
// transparent huge pages where the kernel allows (madvise MADV_HUGEPAGE;
// +20% streaming bandwidth over 4 KiB pages on one thread, DESIGN.md 4).
// Zero-filled. Move-only.
class HugePageBuffer {
 public:
  HugePageBuffer() = default;
  explicit HugePageBuffer(size_t bytes) : size_(bytes) {
    if (bytes == 0) return;
#if defined(__linux__)
    constexpr size_t kHuge = size_t{2} << 20;
    // Large buffers: map 2 MiB more and trim, so the data starts on a huge
    // page boundary and every whole 2 MiB of it can be one TLB entry. The
    // length is rounded to 4 KiB only: the last partial 2 MiB stays in
    // small pages rather than a huge page mostly unused (rounding to 2 MiB
    // cost a 4.6 MB FFN matrix 1.4 MB, 130 MB over BitNet-2B-4T).
    const bool huge = bytes >= kHuge;
    const size_t want = (bytes + 4095) / 4096 * 4096;
    const size_t map_len = huge ? want + kHuge : want;
    void* p = mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    auto* base = static_cast<uint8_t*>(p);
    uint8_t* start = base;
    if (huge) {
      const uintptr_t a = reinterpret_cast<uintptr_t>(base);
      start = base + ((kHuge - a % kHuge) % kHuge);
      if (start > base) munmap(base, static_cast<size_t>(start - base));
      const size_t tail = static_cast<size_t>((base + map_len) - (start + want));
      if (tail > 0) munmap(start + want, tail);
      madvise(start, want, MADV_HUGEPAGE);  // a hint: failure only costs speed
    }
    data_ = start;
    mapped_ = want;
#else
    data_ = static_cast<uint8_t*>(::operator new(bytes, std::align_val_t{64}));
    std::memset(data_, 0, bytes);
#endif
  }
  HugePageBuffer(HugePageBuffer&& o) noexcept { swap(o); }
  HugePageBuffer& operator=(HugePageBuffer&& o) noexcept {
    HugePageBuffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  HugePageBuffer(const HugePageBuffer&) = delete;
  HugePageBuffer& operator=(const HugePageBuffer&) = delete;
  ~HugePageBuffer() {
    if (!data_) return;
#if defined(__linux__)
    munmap(data_, mapped_);
#else
    ::operator delete(data_, std::align_val_t{64});
#endif
  }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void swap(HugePageBuffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
  }
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
};

}  // namespace trix
