#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sched.h>

#include <cstdlib>
#include <thread>

#include "vggt_lab/error.hpp"
#include "vggt_lab/memory.hpp"
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
  auto sequences = action_queues(plan, stage_depths(graph, plan));
  for (int s = 0; s < 3; ++s) {
    int in_flight = 0, most = 0;
    for (const Action& a : sequences[s]) {
      in_flight += a.pass == Pass::forward ? 1 : -1;
      most = std::max(most, in_flight);
    }
    EXPECT_EQ(most, 3 - s) << "stage " << s;
  }
}

/// The most forwards without their backward in each queue.
std::vector<int> most_in_flight(const std::vector<std::vector<Action>>& queues) {
  std::vector<int> out;
  for (const auto& queue : queues) {
    int in_flight = 0, most = 0;
    for (const Action& a : queue) {
      in_flight += a.pass == Pass::forward ? 1 : -1;
      most = std::max(most, in_flight);
    }
    out.push_back(most);
  }
  return out;
}

// One table decides what runs and what memory is predicted: the in-flight
// count the planner uses is counted on the sequences the runtime runs.
TEST(Schedule, InFlightMicroBatchesAreCountedOnTheSequencesThatRun) {
  for (const auto& schedule : schedule_names()) {
    auto [graph, plan] = chain(3, 4, schedule);
    const auto depths = stage_depths(graph, plan);
    EXPECT_EQ(micro_batches_in_flight(plan, depths), most_in_flight(action_queues(plan, depths))) << schedule;
  }
  auto [graph, plan] = chain(1, 4, "sequential");
  EXPECT_EQ(micro_batches_in_flight(plan, {0}), std::vector<int>{1});  // each micro-batch's backward right after it
  plan.schedule = "gpipe";
  EXPECT_EQ(micro_batches_in_flight(plan, {0}), std::vector<int>{4});
  EXPECT_THROW(stage_sequence("gpipe2", 0, 4, 0, 1), Error);
  auto [two, sequential] = chain(2, 3, "sequential");  // runs and orders without a cyclic wait
  EXPECT_EQ(simulate(two, sequential, [](int, Pass) { return 1.0; }, [](int, int) { return 0.0; }).actions.size(), 12u);
}

/// `named`'s actions written out as each device's list (one stage a device).
Plan as_custom(Plan named, const ModelGraph& graph) {
  named.device_actions = action_queues(named, stage_depths(graph, named));
  named.schedule = "custom";
  return named;
}

// A custom schedule runs each device's list in its order: GPipe written out
// runs as GPipe, and a device that holds its backwards back keeps more
// micro-batches in flight, as predicted.
TEST(Schedule, ACustomScheduleRunsEachDevicesListInItsOrder) {
  auto unit = [](int, Pass) { return 1.0; };
  auto free = [](int, int) { return 0.0; };
  auto [graph, gpipe] = chain(2, 3, "gpipe");
  const Plan custom = as_custom(gpipe, graph);
  EXPECT_TRUE(check_plan(graph, {{{0}, {1}}}, custom).empty());
  const Timeline named = simulate(graph, gpipe, unit, free), own = simulate(graph, custom, unit, free);
  EXPECT_DOUBLE_EQ(own.makespan, named.makespan);
  for (int d = 0; d < 2; ++d) {
    const auto order = own.device_order(d);
    ASSERT_EQ(order.size(), custom.device_actions[d].size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      EXPECT_EQ(order[i].micro_batch, custom.device_actions[d][i].micro_batch);
      EXPECT_EQ(order[i].pass, custom.device_actions[d][i].pass);
    }
  }
  EXPECT_EQ(micro_batches_in_flight(custom, {0, 1}), (std::vector<int>{3, 3}));
  auto [chain2, one_f_one_b] = chain(2, 3, "1f1b");
  EXPECT_EQ(micro_batches_in_flight(as_custom(one_f_one_b, chain2), {0, 1}), (std::vector<int>{2, 1}));
  Plan fewer = custom;  // a batch of 2 runs the first two micro-batches' actions
  fewer.micro_batches = 2;
  EXPECT_EQ(simulate(graph, fewer, unit, free).actions.size(), 8u);
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

Topology on(const std::vector<std::string>& physical) {
  Topology topology;
  for (int d = 0; d < int(physical.size()); ++d) topology.devices.push_back({d, physical[d], 0, 0});
  return topology;
}

TEST(Schedule, FramesSplitIntoContiguousShardsTheFirstOnesLarger) {
  EXPECT_THAT(frame_shards(7, 3), ::testing::ElementsAre(3, 2, 2));
  EXPECT_THAT(frame_shards(8, 4), ::testing::ElementsAre(2, 2, 2, 2));
  EXPECT_THAT(frame_shards(1, 4), ::testing::ElementsAre(1, 0, 0, 0));
  EXPECT_THAT(stage_devices({2, {}, {0, 3}}), ::testing::ElementsAre(2, 0, 3));
}

// A frame-sharded stage's action takes every device of its group at once.
TEST(Schedule, AFrameShardedStageOccupiesItsWholeGroup) {
  auto [graph, plan] = chain(2, 1, "sequential");
  plan.stages[0].frame_group = {1};
  Timeline t = simulate(graph, plan, [](int, Pass) { return 1.0; }, [](int, int) { return 0.0; });
  EXPECT_DOUBLE_EQ(t.makespan, 4.0);
  EXPECT_DOUBLE_EQ(t.busy[0], 2.0);
  EXPECT_DOUBLE_EQ(t.busy[1], 4.0);
  EXPECT_EQ(t.device_order(1).size(), 4u);
  // On one processor with one lane, the group's two devices need two lanes:
  // each action still runs, taking the lane it has.
  Timeline one_gpu = simulate(graph, plan, [](int, Pass) { return 1.0; }, [](int, int) { return 0.0; },
                              shared_processors(on({"cuda:0", "cuda:0"}), 2));
  EXPECT_DOUBLE_EQ(one_gpu.makespan, 4.0);
}

TEST(Schedule, ProcessorsFollowPhysicalDevicesAndCpuCores) {
  Processors gpus = shared_processors(on({"cuda:0", "cuda:1", "cuda:0"}), 2);
  EXPECT_THAT(gpus.of, ::testing::ElementsAre(0, 1, 0));
  EXPECT_THAT(gpus.lanes, ::testing::ElementsAre(1, 1));  // one stream each
  // 2 cores: 4 workers get 1 thread each, so 2 run at once; a lone worker gets both.
  EXPECT_THAT(shared_processors(on({"cpu", "cpu", "cpu", "cpu"}), 2).lanes, ::testing::ElementsAre(2));
  EXPECT_THAT(shared_processors(on({"cpu"}), 2).lanes, ::testing::ElementsAre(1));
  EXPECT_EQ(worker_threads(8, 3), 2);
  EXPECT_EQ(worker_threads(2, 4), 1);
}

/// The CPUs this thread may run on (all of the machine's unless bound).
int allowed_here() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return int(std::thread::hardware_concurrency());
  return std::min(CPU_COUNT(&set), int(std::thread::hardware_concurrency()));
}

// A process's share of the cores: what a sweep gives each trial running side
// by side, else the CPUs it may use divided among the data-parallel ranks on it.
TEST(Schedule, ProcessCoresFollowTheSweepsShareThenTheLocalRanks) {
  const int machine = std::max(1, allowed_here());
  ASSERT_EQ(unsetenv("VGGT_LAB_CORES"), 0);
  ASSERT_EQ(setenv("WORLD_SIZE", "4", 1), 0);  // torchrun: 2 hosts x 2 ranks
  ASSERT_EQ(setenv("LOCAL_WORLD_SIZE", "2", 1), 0);
  EXPECT_EQ(process_cores(), std::max(1, machine / 2));
  ASSERT_EQ(setenv("VGGT_LAB_CORES", "3", 1), 0);
  EXPECT_EQ(process_cores(), 3);
  ASSERT_EQ(setenv("VGGT_LAB_CORES", "none", 1), 0);  // not a count: ignored
  EXPECT_EQ(process_cores(), std::max(1, machine / 2));
  unsetenv("VGGT_LAB_CORES");
  unsetenv("WORLD_SIZE");
  unsetenv("LOCAL_WORLD_SIZE");
  EXPECT_EQ(process_cores(), machine);
  ASSERT_EQ(setenv("OMPI_COMM_WORLD_SIZE", "2", 1), 0);  // mpirun -n 2 on this host
  EXPECT_EQ(process_cores(), std::max(1, machine / 2));
  unsetenv("OMPI_COMM_WORLD_SIZE");
}

// Bound to one CPU (taskset, numactl, a container's cpuset), a process
// computes on it alone; affinity is per thread, so binding this one shows it.
TEST(Schedule, ProcessCoresFollowTheCpusTheProcessIsBoundTo) {
  cpu_set_t all, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  int first = 0;
  while (!CPU_ISSET(first, &all)) ++first;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  unsetenv("VGGT_LAB_CORES");
  EXPECT_EQ(process_cores(), 1);
  ASSERT_EQ(setenv("VGGT_LAB_CORES", "2", 1), 0);  // said explicitly: it wins
  EXPECT_EQ(process_cores(), 2);
  unsetenv("VGGT_LAB_CORES");
  ASSERT_EQ(sched_setaffinity(0, sizeof all, &all), 0);
  EXPECT_EQ(process_cores(), std::max(1, allowed_here()));
}

/// Most actions running at one moment.
int most_at_once(const Timeline& t) {
  int most = 0;
  for (const TimedAction& a : t.actions) {
    int running = 0;
    for (const TimedAction& b : t.actions) running += b.start <= a.start && a.start < b.end;
    most = std::max(most, running);
  }
  return most;
}

TEST(Schedule, LogicalDevicesSharingAProcessorRunAsManyActionsAsItHasLanes) {
  auto [graph, plan] = chain(4, 8, "gpipe");
  auto unit = [](int, Pass) { return 1.0; };
  auto free = [](int, int) { return 0.0; };
  Timeline own = simulate(graph, plan, unit, free);
  EXPECT_EQ(most_at_once(own), 4);
  Timeline one_gpu = simulate(graph, plan, unit, free, shared_processors(on({"cuda:0", "cuda:0", "cuda:0", "cuda:0"}), 2));
  EXPECT_EQ(most_at_once(one_gpu), 1);
  EXPECT_DOUBLE_EQ(one_gpu.makespan, 4 * 8 * 2.0);  // every action, one after another
  Timeline two_cores = simulate(graph, plan, unit, free, shared_processors(on({"cpu", "cpu", "cpu", "cpu"}), 2));
  EXPECT_EQ(most_at_once(two_cores), 2);
  EXPECT_GE(two_cores.makespan, 4 * 8 * 2.0 / 2);
  EXPECT_LT(two_cores.makespan, one_gpu.makespan);
  EXPECT_GT(two_cores.makespan, own.makespan);
}

}  // namespace
}  // namespace vggt_lab
