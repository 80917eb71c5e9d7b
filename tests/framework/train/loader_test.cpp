// Batches: official batching rule, first-camera normalisation, determinism,
// and the synthetic renderer's geometry (depth, points and tracks agree).
#include <gtest/gtest.h>

#include <set>

#include "host/plugin_host.hpp"
#include "train/loader.hpp"
#include "vggt_lab/geometry.hpp"

namespace vggt_lab::train {
namespace {

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.load_path({default_plugin_dir(), "built-in", true});
    Options o;
    o.set("scenes", std::int64_t{50});
    o.set("objects", std::int64_t{4});
    o.set("min_fov", 45.0);
    o.set("max_fov", 65.0);
    source_ = host_.registry().create<DataSource>("synthetic-scenes", o, host_.context());
  }
  PluginHost host_{nullptr};
  PluginObject<DataSource> source_;
};

TEST_F(LoaderTest, BatchSizeFollowsImagesPerStepOverFramesAndSidesArePatchMultiples) {
  LoaderOptions o;
  o.min_frames = 2;
  o.max_frames = 6;
  o.images_per_step = 12;
  o.width = 70;
  o.max_height = 70;
  o.min_aspect = 0.5;
  o.max_aspect = 1.0;
  o.tracks = 5;
  for (int step = 0; step < 5; ++step) {
    TensorMap b = make_batch(*source_.object, o, step);
    const auto& images = b.at("images");
    EXPECT_EQ(images.size(0), std::max<int64_t>(1, 12 / images.size(1)));
    EXPECT_EQ(images.size(3) % 14, 0);
    EXPECT_EQ(images.size(4), 70);
    EXPECT_EQ(b.at("query").sizes(), (std::vector<int64_t>{images.size(0), 5, 2}));
  }
  EXPECT_TRUE(torch::equal(make_batch(*source_.object, o, 3).at("images"), make_batch(*source_.object, o, 3).at("images")));
}

// Data-parallel ranks do equal work in a step (none waits at the all-reduce
// for a larger one), on different scenes; the shape still varies by step.
TEST_F(LoaderTest, RanksShareEachStepsShapeButNotItsScenes) {
  LoaderOptions o;
  o.min_frames = 2;
  o.max_frames = 6;
  o.images_per_step = 12;
  o.width = o.max_height = 70;
  o.min_aspect = 0.5;
  o.max_aspect = 1.0;
  o.world_size = 2;
  std::set<std::vector<int64_t>> shapes;
  for (int step = 0; step < 6; ++step) {
    o.rank = 0;
    const auto first = make_batch(*source_.object, o, step).at("images");
    o.rank = 1;
    const auto second = make_batch(*source_.object, o, step).at("images");
    ASSERT_EQ(first.sizes(), second.sizes()) << "step " << step;
    EXPECT_FALSE(torch::equal(first, second)) << "step " << step;
    shapes.insert(first.sizes().vec());
  }
  EXPECT_GT(shapes.size(), 1u);
}

TEST_F(LoaderTest, GroundTruthIsInTheFirstCameraFrameAndConsistent) {
  LoaderOptions o;
  o.min_frames = o.max_frames = 3;
  o.images_per_step = 3;
  o.width = o.max_height = 56;
  o.tracks = 8;
  TensorMap b = make_batch(*source_.object, o, 0);
  auto E = b.at("extrinsics")[0], K = b.at("intrinsics")[0];
  // Camera 0 is the world frame.
  EXPECT_TRUE(torch::allclose(E[0], torch::eye(3, 4), 1e-5, 1e-5));
  // Depth unprojected with the cameras gives the world points, where valid.
  auto mask = b.at("point_masks")[0];
  auto world = geometry::depth_to_world_points(b.at("depths")[0], E, K);
  EXPECT_LT((world - b.at("world_points")[0]).abs().index({mask}).max().item<double>(), 1e-3);
  // Mean distance of valid points from camera 0 is 1 after normalisation.
  EXPECT_NEAR(b.at("world_points")[0].norm(2, -1).index({mask}).mean().item<double>(), 1.0, 1e-3);
  // Visible tracks sit where their 3D points project.
  auto tracks = b.at("tracks")[0], visible = b.at("track_masks")[0];
  EXPECT_TRUE(visible[0].all().item<bool>());  // seen in frame 0 by construction
}

TEST_F(LoaderTest, TheLoaderPrefetchesTheSameBatchesInOrder) {
  LoaderOptions o;
  o.min_frames = o.max_frames = 2;
  o.images_per_step = 4;
  o.width = o.max_height = 28;
  o.workers = 2;
  BatchLoader loader(source_.object, o, 5);
  for (int step = 5; step < 8; ++step) {
    EXPECT_TRUE(torch::equal(loader.next().at("images"), make_batch(*source_.object, o, step).at("images")));
  }
  EXPECT_EQ(loader.position(), 8);
}

}  // namespace
}  // namespace vggt_lab::train
