#pragma once
// A model as the planner sees it: placeable units, the named tensors that flow
// between them, and what each unit costs. Plain data, no LibTorch.
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// What training recomputes in backward instead of keeping, resolved by the
/// host from [train] checkpointing and head_checkpoint_frames.
struct Checkpointing {
  std::set<std::string> units;    // units that keep only the inputs of their checkpointed pieces
  bool global_only = false;       // of a unit's transformer blocks, only global attention is
  std::int64_t head_frames = 0;   // frame-wise heads recompute this many frames at a time (0: all)
  bool on(const std::string& unit) const { return units.count(unit) > 0; }
};

/// Costs for one full step batch. The checkpoint_* and recompute_* fields
/// describe the unit under the Checkpointing the graph was made for; they
/// apply only when that Checkpointing names the unit.
struct UnitCost {
  std::int64_t param_bytes = 0;       // parameters (fp32)
  std::int64_t activation_bytes = 0;  // kept for backward, per micro-batch, fused attention
  std::int64_t attention_bytes = 0;   // + attention probabilities kept without fused kernels
  std::int64_t checkpoint_bytes = 0;  // kept instead when the unit is checkpointed
  std::int64_t checkpoint_attention_bytes = 0;  // + attention probabilities its uncheckpointed pieces keep, unfused
  std::int64_t recompute_bytes = 0;   // transient while one checkpointed piece recomputes
  std::int64_t recompute_attention_bytes = 0;  // + its attention probabilities, unfused
  double forward_flops = 0;
  double recompute_flops = 0;         // forward flops run again in backward when checkpointed
  std::int64_t workspace_bytes = 0;  // transient peak above what it keeps, in its forward or backward
  double forward_seconds = 0;   // measured on the planned device (0: predict from flops)
  double backward_seconds = 0;  // measured (0: predict from flops)
  // Under frame parallelism, of a FrameSplit::global unit: the keys and
  // values of all frames that each device of the group gathers, kept for
  // backward; and the most gathered at once when the unit is checkpointed.
  std::int64_t gathered_bytes = 0;
  std::int64_t checkpoint_gathered_bytes = 0;
};

/// How a unit's work divides when its stage shards each scene's frames over
/// a group of devices.
enum class FrameSplit {
  whole,   // needs every frame at once: the group's first device runs it on inputs gathered there
  local,   // frame by frame: each device computes its own frames
  global,  // frame by frame but attention over all frames: each device gathers the group's keys and values
};

struct Unit {
  std::string name;
  UnitCost cost;
  FrameSplit split = FrameSplit::whole;
};

struct Edge {
  std::string tensor;  // e.g. "tokens.4"
  std::string from;    // producing unit
  std::string to;      // consuming unit
  std::int64_t bytes = 0;
};

struct VGGT_LAB_API ModelGraph {
  std::vector<Unit> units;  // a topological order
  std::vector<Edge> edges;
  std::int64_t frames = 1;  // frames per scene the costs are for

  /// Index of the unit with this name, or -1.
  int index_of(const std::string& name) const;
};

}  // namespace vggt_lab
