// Freed memory stays in the process (issue #19): a block of several MiB comes
// from the heap rather than its own mapping, and freeing it keeps it there for
// the next step instead of returning it to the kernel.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>

#include "host/malloc_tuning.hpp"

namespace vggt_lab {
namespace {

TEST(MallocTuning, FreedBlocksStayInTheProcessUnlessTheUserChoseOtherwise) {
  ASSERT_EQ(setenv("VGGT_LAB_MALLOC", "default", 1), 0);
  EXPECT_FALSE(keep_freed_memory());
  ASSERT_EQ(unsetenv("VGGT_LAB_MALLOC"), 0);
  ASSERT_EQ(setenv("MALLOC_TRIM_THRESHOLD_", "0", 1), 0);  // the user's own glibc settings win
  EXPECT_FALSE(keep_freed_memory());
  ASSERT_EQ(unsetenv("MALLOC_TRIM_THRESHOLD_"), 0);
  ASSERT_TRUE(keep_freed_memory());
  constexpr std::size_t kBlock = 8 << 20;  // above glibc's first threshold (128 KiB), below the cap
  const auto mapped = mallinfo2().hblkhd;
  void* block = std::malloc(kBlock);
  ASSERT_NE(block, nullptr);
  static_cast<volatile char*>(block)[kBlock - 1] = 1;
  EXPECT_EQ(mallinfo2().hblkhd, mapped);  // from the heap, not a mapping of its own
  std::free(block);
  EXPECT_GE(mallinfo2().fordblks, kBlock);  // kept, free for reuse
}

}  // namespace
}  // namespace vggt_lab
