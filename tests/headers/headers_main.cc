// Linked with one translation unit per public header (see CMakeLists.txt):
// building this test is the check; running it confirms the set is not empty.
#include <gtest/gtest.h>

TEST(Headers, EachPublicHeaderCompilesAlone) { SUCCEED(); }
