#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vggt_lab/schedule.hpp"

namespace vggt_lab {
namespace {

/// p stages in a chain, one per device.
std::pair<ModelGraph, Plan> chain(int p, int m, const std::string& schedule) {
  ModelGraph graph;
  Plan plan{"test", {}, m, schedule};
  for (int s = 0; s < p; ++s) {
    graph.units.push_back({"u" + std::to_string(s), {}});
    if (s > 0) graph.edges.push_back({"t", "u" + std::to_string(s - 1), "u" + std::to_string(s), 1});
    plan.stages.push_back({s, {"u" + std::to_string(s)}});
  }
  return {graph, plan};
}

TEST(Schedule, PipelineBubbleIsPMinusOneOverMPlusPMinusOne) {
  for (const char* schedule : {"gpipe", "1f1b"}) {
    for (int p : {2, 4}) {
      for (int m : {1, 4, 8}) {
        auto [graph, plan] = chain(p, m, schedule);
        Timeline t = simulate(graph, plan, [](int, Pass) { return 1.0; }, [](int, int) { return 0.0; });
        EXPECT_DOUBLE_EQ(t.makespan, 2.0 * (m + p - 1)) << schedule << " p=" << p << " m=" << m;
        EXPECT_NEAR(t.bubble(0), double(p - 1) / (m + p - 1), 1e-12) << schedule;
      }
    }
  }
}

TEST(Schedule, OneFOneBKeepsAtMostPMinusSMicroBatchesInFlight) {
  auto [graph, plan] = chain(3, 6, "1f1b");
  auto sequences = stage_sequences(plan, stage_depths(graph, plan));
  for (int s = 0; s < 3; ++s) {
    int in_flight = 0, most = 0;
    for (const Action& a : sequences[s]) {
      in_flight += a.pass == Pass::forward ? 1 : -1;
      most = std::max(most, in_flight);
    }
    EXPECT_EQ(most, 3 - s) << "stage " << s;
  }
}

TEST(Schedule, TransfersDelayConsumersAndDevicesRunOneActionAtATime) {
  auto [graph, plan] = chain(2, 1, "sequential");
  Timeline t = simulate(graph, plan, [](int, Pass) { return 1.0; }, [](int, int) { return 0.5; });
  EXPECT_DOUBLE_EQ(t.makespan, 1 + 0.5 + 1 + 1 + 0.5 + 1);
  plan.stages[1].device = 0;  // both stages on one device: no overlap
  Timeline shared = simulate(graph, plan, [](int, Pass) { return 1.0; }, [](int, int) { return 0.0; });
  EXPECT_DOUBLE_EQ(shared.busy[0], 4.0);
  EXPECT_EQ(shared.device_order(0).size(), 4u);
}

}  // namespace
}  // namespace vggt_lab
