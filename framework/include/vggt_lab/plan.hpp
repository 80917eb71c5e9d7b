#pragma once
// Where units run: logical devices, stages and the plan a placement returns.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/graph.hpp"

namespace vggt_lab {

struct LogicalDevice {
  int index = 0;
  std::string physical;             // "cpu", "cuda:0", ...
  std::int64_t capacity_bytes = 0;  // 0: unlimited
  double flops = 0;                 // sustained FLOP/s for time predictions (0: unknown)
};

struct Topology {
  std::vector<LogicalDevice> devices;
  double link_bandwidth = 0;  // bytes/s between logical devices (0: unknown)
};

struct Stage {
  int device = 0;
  std::vector<std::string> units;  // in execution order
  /// Further logical devices that share each scene's frames with `device`
  /// (frame parallelism): the frames split into contiguous shards over
  /// {device, frame_group...} in that order. Empty: the stage runs whole on
  /// `device`.
  std::vector<int> frame_group;
};

/// Every unit of the graph, in graph order, as one stage on `device`.
VGGT_LAB_API Stage whole_model(const ModelGraph& graph, int device);

/// The devices a stage runs on: `device`, then its frame group.
VGGT_LAB_API std::vector<int> stage_devices(const Stage& stage);
/// Frames each of `devices` devices gets of `frames`, in contiguous shards,
/// the first `frames % devices` one more (some 0 when frames < devices).
VGGT_LAB_API std::vector<std::int64_t> frame_shards(std::int64_t frames, int devices);

enum class Pass { forward, backward };

/// One stage's forward or backward of one micro-batch.
struct Action {
  int stage = 0;
  Pass pass = Pass::forward;
  int micro_batch = 0;
};

/// How micro-batches flow, by `schedule`: "sequential" (one forward then one
/// backward through all stages), "gpipe" (all forwards, then all
/// backwards), "1f1b" (one forward one backward in the steady state), or
/// "custom": the plugin's own order, in device_actions.
struct Plan {
  std::string strategy;
  std::vector<Stage> stages;  // in a topological order of the stage DAG
  int micro_batches = 1;
  std::string schedule = "sequential";
  /// Where a splitting strategy cut the units, as its `splits` option takes
  /// them (empty for others): what a sweep's split-point search starts from.
  std::vector<std::int64_t> splits;
  /// Under schedule = "custom": per logical device, every action of its
  /// stages for every micro-batch, in the order it runs them (the base for
  /// interleaved and zero-bubble schedules). Empty under a named schedule.
  std::vector<std::vector<Action>> device_actions;
};

/// Unit name -> index of the stage that runs it.
VGGT_LAB_API std::map<std::string, int> unit_stages(const Plan& plan);

/// Each stage's depth in the stage DAG (0 for stages fed by model inputs
/// only): the pipeline position schedules use.
VGGT_LAB_API std::vector<int> stage_depths(const ModelGraph& graph, const Plan& plan);

/// Structural checks: a known schedule and at least one micro-batch, every
/// unit placed exactly once, devices exist (a frame group's too, each once
/// per stage), no edge runs from a later stage back to an earlier one, and
/// custom device_actions run each action once, on its stage's device,
/// without a cyclic wait. Returns one message per
/// violation, naming the unit, stage, device or action.
VGGT_LAB_API std::vector<std::string> check_plan(const ModelGraph& graph, const Topology& topology,
                                                 const Plan& plan);

}  // namespace vggt_lab
