// `balanced-memory` against an exhaustive search on a small VGGT-shaped graph.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "host/plugin_host.hpp"
#include "support/support.hpp"
#include "vggt_lab/memory.hpp"
#include "vggt_lab/placement.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

/// embed -> block.0 .. block.7 (a chain); camera reads block.7, depth reads
/// blocks 2, 5 and 7 (skip tensors).
ModelGraph vggt_shaped() {
  ModelGraph graph;
  graph.units.push_back({"embed", testing::unit_cost(100, 50)});
  for (int i = 0; i < 8; ++i) graph.units.push_back({"block." + std::to_string(i), testing::unit_cost(200, 100 + 10 * i)});
  graph.units.push_back({"camera", testing::unit_cost(300, 40)});
  graph.units.push_back({"depth", testing::unit_cost(150, 400)});
  graph.edges.push_back({"tokens.embed", "embed", "block.0", 30});
  for (int i = 0; i < 7; ++i) {
    graph.edges.push_back({"tokens." + std::to_string(i), "block." + std::to_string(i),
                           "block." + std::to_string(i + 1), 30});
  }
  graph.edges.push_back({"tokens.7", "block.7", "camera", 30});
  for (int i : {2, 5, 7}) {
    graph.edges.push_back({"tokens." + std::to_string(i), "block." + std::to_string(i), "depth", 30});
  }
  return graph;
}

Topology devices(int n, std::int64_t capacity = 0) {
  Topology topology;
  for (int i = 0; i < n; ++i) topology.devices.push_back({i, "cpu", capacity});
  return topology;
}

std::int64_t peak(const ModelGraph& graph, const Topology& topology, const Plan& plan) {
  auto memory = predicted_totals(graph, topology, plan, MemoryModel{});
  return *std::max_element(memory.begin(), memory.end());
}

/// The best peak over every contiguous ordered trunk split and head placement.
std::int64_t exhaustive_best(const ModelGraph& graph, const Topology& topology) {
  const int n = static_cast<int>(topology.devices.size());
  std::int64_t best = -1;
  std::vector<int> trunk_device(9, 0);
  std::function<void(int, int)> trunk = [&](int unit, int low) {
    if (unit == 9) {
      for (int camera = 0; camera < n; ++camera) {
        for (int depth = 0; depth < n; ++depth) {
          Plan plan;
          for (int u = 0; u < 9; ++u) {
            if (plan.stages.empty() || plan.stages.back().device != trunk_device[u]) {
              plan.stages.push_back({trunk_device[u], {}});
            }
            plan.stages.back().units.push_back(graph.units[u].name);
          }
          plan.stages.push_back({camera, {"camera"}});
          plan.stages.push_back({depth, {"depth"}});
          std::int64_t p = peak(graph, topology, plan);
          if (best < 0 || p < best) best = p;
        }
      }
      return;
    }
    for (int d = low; d < n; ++d) {
      trunk_device[unit] = d;
      trunk(unit + 1, d);
    }
  };
  trunk(0, 0);
  return best;
}

class BalancedMemoryTest : public ::testing::Test {
 protected:
  /// The plugin with its defaults, and `splits` when given (as "[3, 6]").
  static PluginObject<Placement> make(const std::string& splits = "[]") {
    return testing::create_plugin<Placement>("placement",
                                             {"placement.plugin=balanced-memory", "placement.splits=" + splits});
  }
};

TEST_F(BalancedMemoryTest, KeepsTheTrunkOrderedAndContiguousAndHeadsWhole) {
  ModelGraph graph = vggt_shaped();
  Topology topology = devices(4);
  Plan plan = make().call([&](Placement& p) { return p.place({graph, topology, {}}); });
  EXPECT_TRUE(check_plan(graph, topology, plan).empty());
  int last_trunk_device = 0;
  for (const Stage& stage : plan.stages) {
    bool head = stage.units.front() == "camera" || stage.units.front() == "depth";
    if (head) {
      EXPECT_EQ(stage.units.size(), 1u);
    } else {
      EXPECT_GE(stage.device, last_trunk_device);
      last_trunk_device = stage.device;
    }
  }
}

TEST_F(BalancedMemoryTest, PeakIsWithinOnePercentOfTheExhaustiveOptimum) {
  ModelGraph graph = vggt_shaped();
  for (int n : {2, 3, 4}) {
    Topology topology = devices(n);
    Plan plan = make().call([&](Placement& p) { return p.place({graph, topology, {}}); });
    std::int64_t optimum = exhaustive_best(graph, topology);
    EXPECT_LE(peak(graph, topology, plan), optimum * 101 / 100) << n << " devices";
    EXPECT_GE(peak(graph, topology, plan), optimum) << n << " devices";
  }
}

TEST_F(BalancedMemoryTest, GivenSplitsCutTheTrunkThereAndItsOwnAreReported) {
  ModelGraph graph = vggt_shaped();
  Topology topology = devices(3);
  Plan own = make().call([&](Placement& p) { return p.place({graph, topology, {}}); });
  ASSERT_FALSE(own.splits.empty());
  EXPECT_EQ(graph.index_of(own.stages[1].units.front()), own.splits[0]);  // the trunk leads the graph
  Plan plan = make("[3, 6]").call([&](Placement& p) { return p.place({graph, topology, {}}); });
  EXPECT_EQ(plan.stages[0].units, (std::vector<std::string>{"embed", "block.0", "block.1"}));
  EXPECT_EQ(plan.stages[1].units, (std::vector<std::string>{"block.2", "block.3", "block.4"}));
  EXPECT_EQ(plan.stages[2].units.front(), "block.5");
  EXPECT_EQ(plan.splits, (std::vector<std::int64_t>{3, 6}));
  try {  // 4 segments on 3 devices
    make("[3, 6, 7]").call([&](Placement& p) { return p.place({graph, topology, {}}); });
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("at most 2 positions between 1 and 8 in the trunk"));
  }
}

TEST_F(BalancedMemoryTest, HonoursCapacities) {
  ModelGraph graph = vggt_shaped();
  Topology topology = devices(3);
  topology.devices[0].capacity_bytes = 1000;  // a small first device
  Plan plan = make().call([&](Placement& p) { return p.place({graph, topology, {}}); });
  auto memory = predicted_totals(graph, topology, plan, MemoryModel{});
  EXPECT_LE(memory[0], 1000);
}

TEST_F(BalancedMemoryTest, ExplainsWhyNothingFits) {
  ModelGraph graph = vggt_shaped();
  Topology topology = devices(2, 1000);
  try {
    make().call([&](Placement& p) { return p.place({graph, topology, {}}); });
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no placement fits on 2 device(s)"));
    EXPECT_THAT(e.what(), HasSubstr("with 1.95 KiB in all"));
    EXPECT_THAT(e.what(), HasSubstr("the largest unit, 'camera', alone needs 1.21 KiB"));
    EXPECT_THAT(e.what(), HasSubstr("placement plugin 'balanced-memory'"));
  }
}

}  // namespace
}  // namespace vggt_lab
