#include <gtest/gtest.h>

#include "support/support.hpp"
#include "vggt_lab/memory.hpp"

namespace vggt_lab {
namespace {

TEST(PredictedMemory, CountsStateActivationsAndOneBufferPerCrossingTensor) {
  ModelGraph graph;
  graph.units = {{"a", testing::unit_cost(100, 10)}, {"b", testing::unit_cost(0, 20)}, {"c", testing::unit_cost(0, 30)}};
  graph.edges = {{"t", "a", "b", 7}, {"t", "a", "c", 7}, {"u", "b", "c", 5}};
  Topology topology{{{0, "cpu", 0}, {1, "cpu", 0}}};
  Plan plan{"test", {{0, {"a"}}, {1, {"b", "c"}}}, 1, "sequential"};
  MemoryModel adam;  // params + grads + 2 moments = 4x
  EXPECT_EQ(predicted_totals(graph, topology, plan, adam), (std::vector<std::int64_t>{410, 57}));
  auto split = predicted_memory(graph, topology, plan, adam);
  EXPECT_EQ(split[0].parameters, 100);
  EXPECT_EQ(split[0].gradients, 100);
  EXPECT_EQ(split[0].optimizer, 200);
  EXPECT_EQ(split[0].activations, 10);
  EXPECT_EQ(split[1].buffers, 7);  // tensor t once, though two units on device 1 read it
  MemoryModel frozen;
  frozen.frozen_units = {"a"};
  EXPECT_EQ(unit_memory(graph.units[0], frozen), 100);
  EXPECT_EQ(predicted_totals(graph, topology, plan, frozen), (std::vector<std::int64_t>{100, 57}));
}

TEST(PredictedMemory, SchedulesDecideHowManyMicroBatchesAreInFlight) {
  ModelGraph graph;
  UnitCost cost;
  cost.activation_bytes = 800;
  cost.checkpoint_bytes = 80;
  cost.recompute_bytes = 800;
  graph.units = {{"a", cost}, {"b", cost}};
  graph.edges = {{"x", "a", "b", 400}};
  Topology topology{{{0, "cpu", 0}, {1, "cpu", 0}}};
  Plan plan{"test", {{0, {"a"}}, {1, {"b"}}}, 4, "1f1b"};
  // 1F1B: the first of 2 stages holds min(2, 4) = 2 micro-batches of 800 / 4.
  auto memory = predicted_memory(graph, topology, plan, {});
  EXPECT_EQ(memory[0].activations, 400);
  EXPECT_EQ(memory[1].activations, 200);
  EXPECT_EQ(memory[1].buffers, 100);
  plan.schedule = "gpipe";  // all 4 micro-batches on every stage
  EXPECT_EQ(predicted_memory(graph, topology, plan, {})[1].activations, 800);
  MemoryModel checkpointing;
  checkpointing.checkpointing.units = {"a", "b"};  // inputs kept, one micro-batch recomputed at a time
  auto recomputing = predicted_memory(graph, topology, plan, checkpointing);
  EXPECT_EQ(recomputing[1].activations, 80);
  EXPECT_EQ(recomputing[1].workspace, 200);
  EXPECT_EQ(stage_depths(graph, plan), (std::vector<int>{0, 1}));
}

// The peak is taken while one unit runs backward: the units before it still
// hold activations, the units after it have traded theirs for gradients.
TEST(PredictedMemory, PeakComesWhileOneUnitRunsBackward) {
  UnitCost a{0, 100, 0, 100};
  a.workspace_bytes = 80;  // a large transient early on
  UnitCost b{40, 10, 0, 10};
  ModelGraph graph;
  graph.units = {{"a", a}, {"b", b}};
  graph.edges = {{"x", "a", "b", 1}};
  Topology topology{{{0, "cpu", 0}}};
  Plan plan{"test", {{0, {"a", "b"}}}, 1, "sequential"};
  MemoryModel no_optimizer;
  no_optimizer.optimizer_state_factor = 0;
  // In b's backward: 110 activations + 40 gradients = 150 (+ 40 parameters);
  // in a's: 100 activations + 80 workspace + 40 of b's gradients = 220.
  DeviceMemory d = predicted_memory(graph, topology, plan, no_optimizer)[0];
  EXPECT_EQ(d.peak_unit, "a");
  EXPECT_EQ(d.activations, 100);
  EXPECT_EQ(d.workspace, 80);
  EXPECT_EQ(d.gradients, 40);
  EXPECT_EQ(d.total(), 40 + 220);
  graph.units[0].cost.workspace_bytes = 0;  // now b's backward holds the peak: 110 + its 40
  d = predicted_memory(graph, topology, plan, no_optimizer)[0];
  EXPECT_EQ(d.peak_unit, "b");
  EXPECT_EQ(d.total(), 40 + 150);
}

// 1F1B's steady state: the first of 2 stages runs its second backward with
// two micro-batches in flight again and every gradient of the stage
// allocated by the first, a larger moment than any of the first backward.
TEST(PredictedMemory, LaterBackwardsOfAPipelineStageHoldEveryGradient) {
  ModelGraph graph;
  graph.units = {{"a", testing::unit_cost(100, 800)}, {"b", testing::unit_cost(40, 80)}, {"c", testing::unit_cost(0, 8)}};
  graph.edges = {{"x", "a", "b", 1}, {"y", "b", "c", 1}};
  Topology topology{{{0, "cpu", 0}, {1, "cpu", 0}}};
  Plan plan{"test", {{0, {"a", "b"}}, {1, {"c"}}}, 4, "1f1b"};
  MemoryModel no_optimizer;
  no_optimizer.optimizer_state_factor = 0;
  // A micro-batch: a 200, b 20. First backward, in a: 2 x 220 - 20 + 140 = 560;
  // a later one, in b: 2 x 220 + 140 = 580.
  DeviceMemory d = predicted_memory(graph, topology, plan, no_optimizer)[0];
  EXPECT_EQ(d.peak_unit, "b");
  EXPECT_EQ(d.activations, 440);
  EXPECT_EQ(d.gradients, 140);
  EXPECT_EQ(d.total(), 140 + 580);
  plan.micro_batches = 1;  // one backward: the first is the only one
  d = predicted_memory(graph, topology, plan, no_optimizer)[0];
  EXPECT_EQ(d.peak_unit, "a");
  EXPECT_EQ(d.total(), 140 + 800 + 140);
}

// A stage sharding 5 frames over devices 0 and 1 (3 and 2 frames): each
// holds the parameters and gradients of the frame-wise units, its share of
// their activations and the keys and values a global unit gathers from the
// other, and the optimizer state of the units it steps; the first device
// also the whole unit and the frames of its input it did not compute, as the
// runtime does.
TEST(PredictedMemory, AFrameGroupSplitsActivationsAndRunsWholeUnitsOnItsFirstDevice) {
  ModelGraph graph;
  UnitCost global = testing::unit_cost(0, 100);
  global.gathered_bytes = 60;
  graph.units = {{"e", testing::unit_cost(10, 50), FrameSplit::local},
                 {"g", global, FrameSplit::global},
                 {"h", testing::unit_cost(10, 40), FrameSplit::whole}};
  graph.edges = {{"t", "e", "g", 50}, {"l", "g", "h", 20}};
  graph.frames = 5;
  Topology topology{{{0, "cpu", 0}, {1, "cpu", 0}}};
  Plan plan{"test", {{0, {"e", "g", "h"}, {1}}}, 1, "sequential"};
  auto memory = predicted_memory(graph, topology, plan, {});
  EXPECT_EQ(memory[0].parameters, 20);
  EXPECT_EQ(memory[0].optimizer, 20);  // h's
  EXPECT_EQ(memory[1].parameters, 10);
  EXPECT_EQ(memory[1].optimizer, 20);  // e's
  EXPECT_EQ(memory[0].activations, 30 + (60 + 24) + 40);  // 3/5 of e and g, 2/5 of g's gathered keys, all of h
  EXPECT_EQ(memory[1].activations, 20 + (40 + 36));
  EXPECT_EQ(memory[0].buffers, 8);  // h reads the 2 frames of l device 1 computed
  EXPECT_EQ(memory[1].buffers, 0);
  plan.stages[0].frame_group.clear();  // unsharded: everything on device 0, nothing gathered
  auto whole = predicted_memory(graph, topology, plan, {});
  EXPECT_EQ(whole[0].activations, 50 + 100 + 40);
  EXPECT_EQ(whole[0].parameters, 20);
  EXPECT_EQ(whole[0].buffers, 0);
  EXPECT_EQ(whole[1].total(), 0);
}

// The optimizer state of a frame group spreads over its devices: whole units
// stay with the stage's device, frame-wise ones go, largest first, to the
// device stepping the fewest bytes; a stage without a group keeps its own;
// frozen units step nowhere.
TEST(OptimizerDevices, ShardAFrameGroupsStateLargestFirst) {
  ModelGraph graph;
  graph.units = {{"a", testing::unit_cost(40, 1), FrameSplit::local},  {"b", testing::unit_cost(30, 1), FrameSplit::global},
                 {"c", testing::unit_cost(20, 1), FrameSplit::global}, {"d", testing::unit_cost(25, 1), FrameSplit::whole},
                 {"f", testing::unit_cost(50, 1), FrameSplit::local},  {"x", testing::unit_cost(5, 1), FrameSplit::local}};
  Plan plan{"test", {{0, {"a", "b", "c", "d", "f"}, {1, 2}}, {3, {"x"}, {}}}, 1, "sequential"};
  const std::map<std::string, int> expected{{"d", 0}, {"a", 1}, {"b", 2}, {"c", 0}, {"x", 3}};
  EXPECT_EQ(optimizer_devices(graph, plan, {"f"}), expected);  // loads 45, 40, 30
}

TEST(FormatBytes, PicksAReadableUnit) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(3 << 20), "3.00 MiB");
  EXPECT_EQ(format_bytes(std::int64_t{80} << 30), "80.00 GiB");
}

}  // namespace
}  // namespace vggt_lab
