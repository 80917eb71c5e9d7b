#include <gtest/gtest.h>

#include "host/suggest.hpp"

namespace vggt_lab {
namespace {

TEST(Nearest, FindsTyposAndPrefixesButNotUnrelatedWords) {
  std::vector<std::string> keys = {"preset", "depth", "embed_dim", "num_heads"};
  EXPECT_EQ(nearest("presett", keys), "preset");
  EXPECT_EQ(nearest("dpeth", keys), "depth");
  EXPECT_EQ(nearest("embed", keys), "embed_dim");
  EXPECT_EQ(nearest("zzzzzz", keys), std::nullopt);
  EXPECT_EQ(did_you_mean("num_head", keys), " (did you mean 'num_heads'?)");
  EXPECT_EQ(did_you_mean("qqq", keys), "");
}

}  // namespace
}  // namespace vggt_lab
