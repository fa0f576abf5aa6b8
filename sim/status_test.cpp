#include "sim/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace ctsim {
namespace {

// A default Status is success and prints as "ok".
TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), 0);
  EXPECT_EQ(s.toString(), "ok");
}

// An error keeps its code and message.
TEST(StatusTest, ErrorKeepsCodeAndMessage) {
  Status s(EEXIST, "provider 'x' already registered");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EEXIST);
  EXPECT_EQ(s.toString(), "provider 'x' already registered (code 17)");
}

// A Result holds either a value or the error it was built from.
TEST(StatusTest, ResultHoldsValueOrError) {
  Result<int> good(42);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.value(), 42);
  EXPECT_TRUE(good.status().ok());

  Result<int> bad(Status(ENOENT, "no such file"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ENOENT);
}

}  // namespace
}  // namespace ctsim
