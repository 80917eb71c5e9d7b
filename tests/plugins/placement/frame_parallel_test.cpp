// frame-parallel, per-head's head groups and pipeline's sharded stages
// through the CLI: what `plan` predicts for the 1B model. Training them is
// checked in tests/framework/train/layouts_test.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/support.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

std::string experiment(const std::string& name) { return std::string(SOURCE_ROOT) + "/experiments/" + name; }

int max_frames(const std::string& file, int devices, const std::string& settings = "") {
  auto result = testing::run_command(testing::vggt_lab_exe() + " plan " + experiment(file) +
                                     " --max-frames --json --devices " + std::to_string(devices) + settings);
  EXPECT_EQ(result.status, 0) << result.output;
  return nlohmann::json::parse(result.output)["max_frames"].get<int>();
}

// Issue #18's targets, by plan: 1B at 518 px, aggregator trained, 80 GiB
// per device: 4 devices fit >= 3.4x the frames of one, 8 devices >= 6.8x.
TEST(FrameParallel, ShardingFramesMultipliesTheFramesAReplicaFits) {
  const int one = max_frames("1b/frames.toml", 1, " --set placement.plugin=single"),
            four = max_frames("1b/frames.toml", 4), eight = max_frames("1b/frames.toml", 8);
  EXPECT_EQ(max_frames("1b/frames.toml", 1), one);  // a group of one is the whole model on one device
  EXPECT_GE(four, 3.4 * one) << one << " -> " << four;
  EXPECT_GE(eight, 6.8 * one) << one << " -> " << eight;
}

TEST(FrameParallel, ThePlanNamesEachDevicesShardAndItsPeers) {
  auto result = testing::run_command(testing::vggt_lab_exe() + " plan " + experiment("1b/frames.toml") + " --set train.frames=10");
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("(frames 0-2 of 10, sharded with devices 1, 2, 3)"));
  EXPECT_THAT(result.output, HasSubstr("(frames 8-9 of 10, sharded with devices 0, 1, 2)"));
  auto json = testing::run_command(testing::vggt_lab_exe() + " plan " + experiment("1b/frames.toml") + " --json");
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_EQ(nlohmann::json::parse(json.output)["stages"][0]["frame_group"], nlohmann::json({1, 2, 3}));
}

// Per-head with its heads sharded over two devices each lowers the heads'
// devices' peaks.
TEST(FrameParallel, PerHeadGroupsShardEachHeadsFrames) {
  auto peaks = [](const std::string& settings) {
    auto result = testing::run_command(testing::vggt_lab_exe() + " plan " + experiment("1b/per_head.toml") +
                              " --json --devices 6 --set placement.depth_head=2 --set placement.point_head=4" + settings);
    EXPECT_EQ(result.status, 0) << result.output;
    std::vector<std::int64_t> out;
    const auto plan = nlohmann::json::parse(result.output);
    for (const auto& d : plan["devices"]) out.push_back(d["predicted_peak_bytes"]);
    return out;
  };
  const auto alone = peaks(""), grouped = peaks(" --set placement.head_group_size=2");
  EXPECT_EQ(alone[3], 0);  // idle without groups
  EXPECT_LT(grouped[2], alone[2]);
  EXPECT_GT(grouped[3], 0);
  EXPECT_LT(grouped[4], alone[4]);
}

// Pipeline stages over pairs of devices: stage s on devices 2s and 2s+1.
TEST(FrameParallel, PipelineStagesShardTheirFramesOverFrameShardsDevices) {
  auto result = testing::run_command(testing::vggt_lab_exe() + " plan " + experiment("1b/pipeline.toml") +
                                     " --json --devices 8 --set placement.frame_shards=2");
  ASSERT_EQ(result.status, 0) << result.output;
  const auto stages = nlohmann::json::parse(result.output)["stages"];
  ASSERT_EQ(stages.size(), 4u);
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(stages[s]["device"], 2 * s);
    EXPECT_EQ(stages[s]["frame_group"], nlohmann::json({2 * s + 1}));
  }
  EXPECT_GT(max_frames("1b/pipeline.toml", 8, " --set placement.frame_shards=2"), max_frames("1b/pipeline.toml", 4));
}

// Balanced-memory over pairs of devices: each trunk segment and head on a
// pair that shards its frames, so 8 devices fit more frames than 4 alone;
// too few devices for one group is refused with what to change.
TEST(FrameParallel, BalancedMemoryPlacesOntoGroupsOfFrameShardsDevices) {
  auto result = testing::run_command(testing::vggt_lab_exe() + " plan " + experiment("1b/balanced.toml") +
                                     " --json --devices 8 --set placement.frame_shards=2");
  ASSERT_EQ(result.status, 0) << result.output;
  const auto plan = nlohmann::json::parse(result.output);
  ASSERT_FALSE(plan["stages"].empty());
  for (const auto& stage : plan["stages"]) {
    EXPECT_EQ(stage["device"].get<int>() % 2, 0);
    EXPECT_EQ(stage["frame_group"], nlohmann::json({stage["device"].get<int>() + 1}));
  }
  EXPECT_GT(max_frames("1b/balanced.toml", 8, " --set placement.frame_shards=2"), max_frames("1b/balanced.toml", 4));
  auto refused = testing::run_command(testing::vggt_lab_exe() + " plan " + experiment("1b/balanced.toml") +
                                      " --devices 1 --set placement.frame_shards=2");
  EXPECT_NE(refused.status, 0);
  EXPECT_THAT(refused.output, HasSubstr("frame_shards = 2 needs at least 2 devices, but there are 1"));
}

}  // namespace
}  // namespace vggt_lab
