// Child processes as sweeps, launch and bench start them: environment set
// before exec, output to a log, exit statuses, and a timeout that kills.
#include "host/child.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "support/support.hpp"

namespace vggt_lab {
namespace {

TEST(Child, GetsItsEnvironmentAndWritesItsLog) {
  testing::TempDir dir;
  const auto log = dir.path() / "child.log";
  const pid_t pid = start_child({{"/bin/sh", "-c", "echo \"$VGGT_LAB_TEST_VALUE|$HOME\"; echo oops >&2; exit 3"},
                                 {{"VGGT_LAB_TEST_VALUE", "set before exec"}},
                                 log});
  const ChildExit exit = wait_child(pid);
  EXPECT_EQ(exit.status, 3);
  EXPECT_FALSE(exit.signalled);
  EXPECT_FALSE(exit.timed_out);
  EXPECT_EQ(testing::read_text(log), std::string("set before exec|") + std::getenv("HOME") + "\noops\n");  // the rest is inherited
}

TEST(Child, IsKilledAfterItsTimeout) {
  const ChildExit exit = wait_child(start_child({{"/bin/sleep", "30"}, {}, std::nullopt}), 0.2);
  EXPECT_TRUE(exit.timed_out);
  EXPECT_TRUE(exit.signalled);
  EXPECT_EQ(exit.status, 128 + 9);
}

TEST(Child, AProgramThatCannotStartExitsWith127) {
  EXPECT_EQ(wait_child(start_child({{"/nonexistent/program"}, {}, std::nullopt})).status, 127);
}

}  // namespace
}  // namespace vggt_lab
