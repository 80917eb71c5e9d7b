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

}  // namespace
}  // namespace vggt_lab
