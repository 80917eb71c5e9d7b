#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vggt_lab/plan.hpp"

namespace vggt_lab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ModelGraph chain() {
  ModelGraph graph;
  graph.units = {{"embed", {}}, {"block.0", {}}, {"head", {}}};
  graph.edges = {{"x0", "embed", "block.0", 8}, {"x1", "block.0", "head", 8}};
  return graph;
}

Topology devices(int n) {
  Topology topology;
  for (int i = 0; i < n; ++i) topology.devices.push_back({i, "cpu", 0});
  return topology;
}

TEST(CheckPlan, AcceptsAValidTwoStagePlan) {
  Plan plan{"test", {{0, {"embed", "block.0"}}, {1, {"head"}}}, 1, "sequential"};
  EXPECT_TRUE(check_plan(chain(), devices(2), plan).empty());
}

TEST(CheckPlan, NamesMissingDuplicateUnknownUnitsAndBadDevices) {
  Plan plan{"test", {{0, {"embed", "embed", "ghost"}}, {5, {"head"}}}, 1, "sequential"};
  EXPECT_THAT(check_plan(chain(), devices(2), plan),
              ElementsAre(HasSubstr("unit 'embed' is placed twice"),
                          HasSubstr("unit 'ghost', which the model does not have"),
                          HasSubstr("stage 1 is on device 5, but the topology has 2"),
                          HasSubstr("unit 'block.0' is not placed")));
}

TEST(CheckPlan, AFrameGroupsDevicesExistOnceAndRunUnderANamedSchedule) {
  Plan plan{"test", {{0, {"embed", "block.0"}, {1, 2}}, {1, {"head"}, {0}}}, 1, "sequential"};
  EXPECT_TRUE(check_plan(chain(), devices(3), plan).empty());
  plan.stages[0].frame_group = {1, 0, 7};
  EXPECT_THAT(check_plan(chain(), devices(3), plan),
              ElementsAre(HasSubstr("stage 0 names device 0 twice in its frame group"),
                          HasSubstr("stage 0 is on device 7, but the topology has 3 device(s)")));
  plan.stages[0].frame_group = {1};
  plan.schedule = "custom";
  plan.device_actions = {{{0, Pass::forward, 0}, {0, Pass::backward, 0}},
                         {{1, Pass::forward, 0}, {1, Pass::backward, 0}}};
  EXPECT_THAT(check_plan(chain(), devices(3), plan),
              ElementsAre(HasSubstr("stage 0 shards frames over a group, which a custom schedule cannot run yet"),
                          HasSubstr("stage 1 shards frames over a group")));
}

TEST(CheckPlan, RejectsUnknownSchedulesAndNoMicroBatch) {
  Plan plan{"test", {{0, {"embed", "block.0", "head"}}}, 0, "gpipe2"};
  EXPECT_THAT(check_plan(chain(), devices(1), plan),
              ElementsAre(HasSubstr("schedule 'gpipe2' is unknown; the known ones: 1f1b, gpipe, sequential"),
                          HasSubstr("micro_batches is 0")));
}

TEST(CheckPlan, RejectsEdgesThatFlowBackwards) {
  Plan plan{"test", {{0, {"head"}}, {1, {"embed", "block.0"}}}, 1, "sequential"};
  EXPECT_THAT(check_plan(chain(), devices(2), plan),
              ElementsAre(HasSubstr("tensor 'x1' flows backwards, from 'block.0' (stage 1) to "
                                    "'head' (stage 0)")));
}

/// embed and block.0 on device 0, head on device 1, two micro-batches,
/// under a custom schedule of these lists.
Plan custom(std::vector<std::vector<Action>> lists) {
  Plan plan{"test", {{0, {"embed", "block.0"}}, {1, {"head"}}}, 2, "custom"};
  plan.device_actions = std::move(lists);
  return plan;
}

constexpr Pass F = Pass::forward, B = Pass::backward;

TEST(CheckPlan, ACustomScheduleRunsEveryActionOnceOnItsDeviceWithoutACyclicWait) {
  const std::vector<Action> head = {{1, F, 0}, {1, B, 0}, {1, F, 1}, {1, B, 1}};
  EXPECT_TRUE(check_plan(chain(), devices(2), custom({{{0, F, 0}, {0, F, 1}, {0, B, 0}, {0, B, 1}}, head})).empty());
  EXPECT_THAT(check_plan(chain(), devices(2), custom({{{0, B, 0}, {0, F, 0}, {0, F, 0}, {1, F, 1}}, head})),
              ElementsAre(HasSubstr("device 0's backward of stage 0, micro-batch 0: comes before its forward"),
                          HasSubstr("device 0's forward of stage 0, micro-batch 0: listed twice"),
                          HasSubstr("device 0's forward of stage 1, micro-batch 1: stage 1 is on device 1"),
                          HasSubstr("forward of stage 0, micro-batch 1 is in no device's list"),
                          HasSubstr("backward of stage 0, micro-batch 1 is in no device's list")));
  EXPECT_THAT(check_plan(chain(), devices(2), custom({{{0, F, 0}, {0, B, 1}, {0, F, 1}, {0, B, 0}}, head})),
              ElementsAre(HasSubstr("device 0's backward of stage 0, micro-batch 1: comes before its forward")));
  // Device 0 waits on micro-batch 0's backward, which device 1 runs after
  // micro-batch 1, whose forward device 0 holds back: a cyclic wait.
  EXPECT_THAT(check_plan(chain(), devices(2), custom({{{0, F, 0}, {0, B, 0}, {0, F, 1}, {0, B, 1}},
                                                      {{1, F, 1}, {1, B, 1}, {1, F, 0}, {1, B, 0}}})),
              ElementsAre(HasSubstr("cannot run: its stages wait on each other")));
  Plan named = custom({{{0, F, 0}}});
  named.schedule = "gpipe";
  EXPECT_THAT(check_plan(chain(), devices(2), named),
              ElementsAre(HasSubstr("device_actions are given, but schedule is 'gpipe'; set it to \"custom\"")));
}

}  // namespace
}  // namespace vggt_lab
