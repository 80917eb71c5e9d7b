#pragma once
// From an experiment to a checked, predicted plan: the topology, the step's
// input shape and the memory model come from the configuration; the graph
// from the model plugin; the plan from the placement plugin.
#include <optional>
#include <string>
#include <vector>

#include "host/config.hpp"
#include "vggt_lab/memory.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/placement.hpp"
#include "vggt_lab/schedule.hpp"

namespace vggt_lab {

struct TopologyOverrides {
  std::optional<int> devices;
  std::optional<std::int64_t> memory;
};

/// Logical devices from [devices]: physical mapping, capacities, speeds.
VGGT_LAB_API Topology make_topology(const Options& devices, const TopologyOverrides& overrides = {});
/// Memory of a physical device ("cpu": the machine's; "cuda:i": the GPU's; 0 when unknown).
VGGT_LAB_API std::int64_t physical_memory(const std::string& physical);
/// The step shape from [train].
VGGT_LAB_API InputShape step_shape(const Options& train);
/// The units [train] checkpointing names ("none", "trunk", "global", "all" or
/// unit globs separated by commas), and the frame-wise heads when
/// head_checkpoint_frames > 0. An InputError names a glob that matches nothing.
VGGT_LAB_API Checkpointing resolve_checkpointing(const Options& train, const Model& model);
/// [train] fused_attention: whether attention runs kernels that keep no
/// probabilities for backward (auto: yes, on CPUs and GPUs alike).
VGGT_LAB_API bool resolve_fused_attention(const Options& train);
/// "embed, block.0..block.23 (global attention only), heads by 4 frames", or "none".
VGGT_LAB_API std::string checkpointing_text(const Checkpointing& checkpointing);
/// How training holds memory: [train] checkpointing, fused_attention and
/// frozen, the units whose every parameter is frozen.
VGGT_LAB_API MemoryModel memory_model(const Options& train, const Model& model);

/// What a plan's costs are when nothing was measured or calibrated.
inline constexpr const char* kAnalyticCosts = "analytic (the model's estimates)";

struct PlanReport {
  Plan plan;
  ModelGraph graph;
  Topology topology;
  MemoryModel memory;
  InputShape shape;
  std::vector<DeviceMemory> predicted;
  Processors processors;              // who shares a processor in the step simulation
  Timeline timeline;                  // predicted step
  std::vector<std::string> problems;  // structural and capacity violations
  std::string costs = kAnalyticCosts;  // where the unit costs came from
  bool fits() const { return problems.empty(); }
};

/// Places the model and predicts memory and time.
VGGT_LAB_API PlanReport make_plan(const PluginObject<Model>& model,
                                  const PluginObject<Placement>& placement, const Topology& topology,
                                  const InputShape& shape, const MemoryModel& memory);
/// The same for a graph whose costs were already chosen (measured or calibrated).
VGGT_LAB_API PlanReport make_plan(ModelGraph graph, const PluginObject<Placement>& placement,
                                  const Topology& topology, const InputShape& shape, const MemoryModel& memory);

/// Predicted seconds of a stage's pass: measured unit times when the costs
/// have them, else flops over device speed (backward: 2x forward, +1x with
/// checkpointing).
VGGT_LAB_API double predicted_seconds(const PlanReport& report, int stage, Pass pass);

/// plan.json: devices with units, predicted memory split and bubble.
VGGT_LAB_API std::string plan_json(const PlanReport& report);
/// The human-readable layout `vggt-lab plan` prints.
VGGT_LAB_API std::string plan_text(const PlanReport& report);

/// True when `name` matches the glob (* and ?).
VGGT_LAB_API bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace vggt_lab
