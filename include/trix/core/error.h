// Typed errors for everything that parses or loads: specs, GGUF, TRIN,
// tokenizers, command-line tools. Kernels never throw: they assume validated
// inputs and assert their preconditions in debug builds.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace trix {

// One error type for all input problems. The message always names where the
// problem is (file, field, byte offset) and what was expected, so a user can
// act on the one line a tool prints.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Builds "<where>: <what>" messages for errors at a byte offset of a file.
inline Error error_at(std::string_view file, uint64_t offset,
                      std::string_view what) {
  std::string msg(file);
  msg += ": at byte offset ";
  msg += std::to_string(offset);
  msg += ": ";
  msg += what;
  return Error(msg);
}

}  // namespace trix
