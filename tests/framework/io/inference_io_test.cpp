// What `vggt-lab infer` reads and writes, checked on small known inputs.
#include "io/inference_io.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "support/support.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/image_io.hpp"

namespace vggt_lab::io {
namespace {

using ::testing::HasSubstr;

// 40 x 30 images resized to width 28: the height is 30 * 28 / 40 = 21,
// rounded to a multiple of the patch (14) that is 28, then cropped to 14.
TEST(InferenceIo, ImagesAreSortedResizedAndCroppedToThePatchGrid) {
  testing::TempDir dir;
  for (const std::string name : {"b", "a"}) {
    image::write_rgb(dir.path() / (name + ".png"), torch::rand({3, 30, 40}));
  }
  std::ofstream(dir.path() / "notes.txt") << "not an image";
  const ImageFolder folder = read_image_folder(dir.path(), 28, 14, 14);
  EXPECT_EQ(folder.images.sizes(), (std::vector<std::int64_t>{1, 2, 3, 14, 28}));
  EXPECT_EQ(folder.stems, (std::vector<std::string>{"a", "b"}));
  EXPECT_GE(folder.images.min().item<float>(), 0.0f);
  EXPECT_LE(folder.images.max().item<float>(), 1.0f);
}

TEST(InferenceIo, AFolderWithoutImagesIsAnInputErrorNamingIt) {
  testing::TempDir dir;
  try {
    read_image_folder(dir.path(), 28, 28, 14);
    FAIL() << "an empty folder was read";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir.path().string() + ": no .png or .jpg images"));
  }
  EXPECT_THROW(read_image_folder(dir.path() / "missing", 28, 28, 14), InputError);
}

TEST(InferenceIo, NearIsBlueFarIsRedInvalidIsBlack) {
  const torch::Tensor depth = torch::tensor({{1.0f, 2.0f, 3.0f}});
  const torch::Tensor valid = torch::tensor({{true, true, false}});
  const torch::Tensor rgb = colorize(depth, valid);  // [3, 1, 3]
  EXPECT_GT(rgb[2][0][0].item<float>(), rgb[0][0][0].item<float>());  // the nearest valid value
  EXPECT_GT(rgb[0][0][1].item<float>(), rgb[2][0][1].item<float>());  // the farthest valid value
  EXPECT_EQ(rgb.select(2, 2).abs().sum().item<float>(), 0.0f);
}

TEST(InferenceIo, PlyHoldsEveryPointAndColourInBinary) {
  testing::TempDir dir;
  const torch::Tensor points = torch::tensor({{0.5f, -1.0f, 2.0f}, {3.0f, 4.0f, 5.0f}});
  const torch::Tensor colors = torch::tensor({{1.0f, 0.0f, 0.5f}, {0.0f, 1.0f, 0.0f}});
  write_ply(dir.path() / "cloud.ply", points, colors);
  std::ifstream in(dir.path() / "cloud.ply", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::string text = bytes.str();
  const std::string end = "end_header\n";
  const auto body = text.find(end) + end.size();
  EXPECT_THAT(text.substr(0, body), HasSubstr("element vertex 2\n"));
  ASSERT_EQ(text.size() - body, 2u * 15u);  // 3 floats and 3 bytes a vertex
  float first[3];
  std::memcpy(first, text.data() + body, sizeof first);
  EXPECT_EQ(first[0], 0.5f);
  EXPECT_EQ(first[1], -1.0f);
  EXPECT_EQ(first[2], 2.0f);
  EXPECT_EQ(static_cast<unsigned char>(text[body + 12]), 255);
  EXPECT_EQ(static_cast<unsigned char>(text[body + 14]), 128);
}

}  // namespace
}  // namespace vggt_lab::io
