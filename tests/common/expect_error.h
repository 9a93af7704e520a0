// Checks that a call throws trix::Error whose one-line message contains given
// fragments. A try/catch without FAIL() in the try passes when nothing is
// thrown; this cannot:
//   EXPECT_TRUE(trix::test::throws_error([&] { f(); }, {"300", "256"}));
// error_of gives the whole message, for tests that compare all of it.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "trix/core/error.h"

namespace trix::test {

template <class Fn>
::testing::AssertionResult throws_error(Fn&& fn, std::initializer_list<std::string_view> fragments) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.find('\n') != std::string::npos) {
      return ::testing::AssertionFailure() << "message is not one line: " << msg;
    }
    for (const std::string_view f : fragments) {
      if (msg.find(f) == std::string::npos) {
        return ::testing::AssertionFailure() << "'" << f << "' not in: " << msg;
      }
    }
    return ::testing::AssertionSuccess() << msg;
  }
  return ::testing::AssertionFailure() << "no trix::Error thrown";
}

// The one-line message of the trix::Error fn throws, or "(no error)".
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "(no error)";
}

}  // namespace trix::test
