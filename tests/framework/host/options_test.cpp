#include <gtest/gtest.h>

#include "vggt_lab/error.hpp"
#include "vggt_lab/options.hpp"

namespace vggt_lab {
namespace {

TEST(ParseBytes, ReadsBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_bytes("80GiB"), std::int64_t{80} << 30);
  EXPECT_EQ(parse_bytes("512 MiB"), std::int64_t{512} << 20);
  EXPECT_EQ(parse_bytes("1.5GB"), std::int64_t{1500000000});
  EXPECT_EQ(parse_bytes("4096"), 4096);
  EXPECT_FALSE(parse_bytes("80 gigs"));
  EXPECT_FALSE(parse_bytes("-1GiB"));
  EXPECT_FALSE(parse_bytes("GiB"));
}

TEST(FormatValue, WritesTomlLiterals) {
  EXPECT_EQ(format_value(true), "true");
  EXPECT_EQ(format_value(std::int64_t{3}), "3");
  EXPECT_EQ(format_value(2.0), "2.0");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(std::string("a\"b")), "\"a\\\"b\"");
  EXPECT_EQ(format_value(std::vector<std::int64_t>{4, 11}), "[4, 11]");
  EXPECT_EQ(format_value(std::vector<std::string>{"x", "y"}), "[\"x\", \"y\"]");
}

TEST(Options, TypedAccessMatchesTheSchemaType) {
  Options options;
  options.set("steps", std::int64_t{3});
  EXPECT_EQ(options.get<std::int64_t>("steps"), 3);
  EXPECT_THROW(options.get<double>("steps"), Error);
  EXPECT_THROW(options.get<std::int64_t>("missing"), Error);
}

}  // namespace
}  // namespace vggt_lab
