#include <gtest/gtest.h>

#include "vggt_lab/memory.hpp"

namespace vggt_lab {
namespace {

TEST(PredictedMemory, CountsStateActivationsAndOneBufferPerCrossingTensor) {
  ModelGraph graph;
  graph.units = {{"a", {100, 10, 0}}, {"b", {0, 20, 0}}, {"c", {0, 30, 0}}};
  graph.edges = {{"t", "a", "b", 7}, {"t", "a", "c", 7}, {"u", "b", "c", 5}};
  Topology topology{{{0, "cpu", 0}, {1, "cpu", 0}}};
  Plan plan{"test", {{0, {"a"}}, {1, {"b", "c"}}}, 1, "sequential"};
  MemoryModel adam;  // params + grads + 2 moments = 4x
  EXPECT_EQ(predicted_memory(graph, topology, plan, adam), (std::vector<std::int64_t>{410, 57}));
  MemoryModel frozen;
  frozen.trainable = false;
  frozen.micro_batches_in_flight = 2;
  EXPECT_EQ(unit_memory(graph.units[0], frozen), 120);
  EXPECT_EQ(predicted_memory(graph, topology, plan, frozen), (std::vector<std::int64_t>{120, 114}));
}

TEST(FormatBytes, PicksAReadableUnit) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(3 << 20), "3.00 MiB");
  EXPECT_EQ(format_bytes(std::int64_t{80} << 30), "80.00 GiB");
}

}  // namespace
}  // namespace vggt_lab
