// per-head and pipeline as pure functions of (graph, topology, memory model).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/config.hpp"
#include "host/plugin_host.hpp"
#include "vggt_lab/placement.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

class StrategyTest : public ::testing::Test {
 protected:
  void SetUp() override { host_.load_path({default_plugin_dir(), "built-in", true}); }
  Plan place(const std::vector<std::string>& overrides, const ModelGraph& graph, int devices) {
    RawConfig raw;
    raw.file = "t.toml";
    for (const auto& o : overrides) apply_override(raw, o);
    ResolvedConfig config = resolve_config(raw, host_.registry());
    auto strategy = create_plugin<Placement>(config, "placement", host_.registry(), host_.context());
    Topology topology;
    for (int d = 0; d < devices; ++d) topology.devices.push_back({d, "cpu", 0, 0});
    Plan plan = strategy.call([&](Placement& p) { return p.place({graph, topology, {}}); });
    EXPECT_TRUE(check_plan(graph, topology, plan).empty());
    return plan;
  }
  PluginHost host_{nullptr};
};

/// 10 parameter bytes and `flops` forward flops.
UnitCost cost(double flops) {
  UnitCost c;
  c.param_bytes = 10;
  c.forward_flops = flops;
  return c;
}

/// embed -> block.0..5 chain; camera reads block.5; depth reads blocks 1 and 5.
ModelGraph graph() {
  ModelGraph g;
  g.units.push_back({"embed", cost(1.0)});
  for (int i = 0; i < 6; ++i) g.units.push_back({"block." + std::to_string(i), cost(1.0 + i)});
  g.units.push_back({"camera_head", cost(2.0)});
  g.units.push_back({"depth_head", cost(5.0)});
  g.edges.push_back({"tokens.0", "embed", "block.0", 1});
  for (int i = 1; i < 6; ++i) {
    g.edges.push_back({"tokens." + std::to_string(i), "block." + std::to_string(i - 1), "block." + std::to_string(i), 1});
  }
  g.edges.push_back({"layer.5", "block.5", "camera_head", 1});
  g.edges.push_back({"layer.1", "block.1", "depth_head", 1});
  g.edges.push_back({"layer.5", "block.5", "depth_head", 1});
  return g;
}

TEST_F(StrategyTest, PerHeadPutsEachHeadOnItsDeviceAsItsOwnStage) {
  Plan plan = place({"placement.plugin=per-head", "placement.aggregator=1", "placement.depth_head=2"}, graph(), 3);
  ASSERT_EQ(plan.stages.size(), 3u);
  EXPECT_EQ(plan.stages[0].device, 1);
  EXPECT_EQ(plan.stages[0].units.size(), 7u);
  EXPECT_EQ(plan.stages[1].units, std::vector<std::string>{"camera_head"});
  EXPECT_EQ(plan.stages[1].device, 1);  // -1: with the aggregator
  EXPECT_EQ(plan.stages[2].device, 2);
}

TEST_F(StrategyTest, PerHeadRejectsADeviceThatDoesNotExist) {
  try {
    place({"placement.plugin=per-head", "placement.depth_head=5"}, graph(), 2);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("depth_head = 5, but there are 2 logical device(s)"));
  }
}

TEST_F(StrategyTest, PipelineCutsContiguousStagesMinimisingTheSlowest) {
  // Flops in order: 1, 1,2,3,4,5,6, 2, 5 (29 in all); the best 3-way cut has max 11.
  Plan plan = place({"placement.plugin=pipeline", "placement.micro_batches=8"}, graph(), 3);
  ASSERT_EQ(plan.stages.size(), 3u);
  EXPECT_EQ(plan.micro_batches, 8);
  EXPECT_EQ(plan.schedule, "1f1b");
  const ModelGraph g = graph();
  double worst = 0;
  int next = 0;
  for (const Stage& stage : plan.stages) {
    double sum = 0;
    for (const auto& unit : stage.units) {
      EXPECT_EQ(g.index_of(unit), next++);  // contiguous, in graph order
      sum += g.units[g.index_of(unit)].cost.forward_flops;
    }
    worst = std::max(worst, sum);
  }
  EXPECT_DOUBLE_EQ(worst, 11.0);
}

TEST_F(StrategyTest, PipelineTakesGivenSplitsAndReportsItsOwn) {
  Plan own = place({"placement.plugin=pipeline"}, graph(), 3);
  ASSERT_EQ(own.splits.size(), 2u);  // where stages 2 and 3 begin, in graph order
  EXPECT_EQ(graph().index_of(own.stages[1].units.front()), own.splits[0]);
  EXPECT_EQ(graph().index_of(own.stages[2].units.front()), own.splits[1]);
  Plan given = place({"placement.plugin=pipeline", "placement.splits=[2, 8]"}, graph(), 3);
  EXPECT_EQ(given.stages[0].units, (std::vector<std::string>{"embed", "block.0"}));
  EXPECT_EQ(given.stages[2].units, (std::vector<std::string>{"depth_head"}));
  EXPECT_EQ(given.splits, (std::vector<std::int64_t>{2, 8}));
  for (const char* bad : {"placement.splits=[2]", "placement.splits=[2, 9]"}) {
    try {
      place({"placement.plugin=pipeline", bad}, graph(), 3);
      ADD_FAILURE() << bad << ": no error";
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr("3 stages need 2 unit indices between 1 and 8")) << bad;
    }
  }
  for (const char* plugin : {"pipeline", "balanced-memory"}) {  // order is the schema's to check
    try {
      place({std::string("placement.plugin=") + plugin, "placement.splits=[5, 3]"}, graph(), 3);
      ADD_FAILURE() << plugin << ": no error";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr("'splits' in [placement] must be strictly increasing, got [5, 3]")) << plugin;
    }
  }
}

}  // namespace
}  // namespace vggt_lab
