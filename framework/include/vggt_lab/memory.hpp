#pragma once
// Predicted memory of a plan, per logical device. Every placement strategy
// and `vggt-lab plan` are judged by this one formula:
//   parameters + gradients + optimizer state
//   + saved activations x micro-batches in flight (schedule-aware)
//   + transient workspace + receive buffers for tensors from other devices,
// taken at the device's peak moment: while one of its units runs backward,
// the units before it still hold activations and those after it hold
// gradients instead.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/plan.hpp"

namespace vggt_lab {

/// How training holds memory; the host derives it from the experiment.
struct MemoryModel {
  double optimizer_state_factor = 2.0;  // optimizer bytes per parameter byte (AdamW: 2)
  bool fused_attention = false;         // no attention probabilities kept (flash kernels)
  Checkpointing checkpointing;         // units that keep only inputs and recompute in backward
  std::set<std::string> frozen_units;   // no gradients, optimizer state or activations
};

/// One device's predicted peak, split by what holds it at that moment.
struct DeviceMemory {
  std::int64_t parameters = 0, gradients = 0, optimizer = 0, activations = 0, workspace = 0,
               buffers = 0;
  std::string peak_unit;  // the unit whose backward the peak comes in
  std::int64_t total() const {
    return parameters + gradients + optimizer + activations + workspace + buffers;
  }
};

/// Activations one unit keeps for one full batch under this model.
VGGT_LAB_API std::int64_t unit_activations(const Unit& unit, const MemoryModel& model);
/// One unit alone, everything counted, one micro-batch in flight.
VGGT_LAB_API std::int64_t unit_memory(const Unit& unit, const MemoryModel& model);

/// Per stage, how many micro-batches' activations it holds at its peak,
/// counted on the actions the plan runs (action_queues): m for gpipe,
/// min(p - depth, m) for 1f1b, 1 for sequential.
VGGT_LAB_API std::vector<int> micro_batches_in_flight(const Plan& plan, const std::vector<int>& depths);

/// The logical device whose optimizer steps each trainable unit: its stage's
/// device; in a frame group, the whole units stay on the stage's device and
/// the frame-wise ones, largest first, go to the group's device with the
/// fewest parameter bytes to step so far (the optimizer state sharded over
/// the group, as ZeRO stage 1). Frozen units are left out.
VGGT_LAB_API std::map<std::string, int> optimizer_devices(const ModelGraph& graph, const Plan& plan,
                                                          const std::set<std::string>& frozen_units);

/// Per logical device (indexed like topology.devices).
VGGT_LAB_API std::vector<DeviceMemory> predicted_memory(const ModelGraph& graph,
                                                        const Topology& topology, const Plan& plan,
                                                        const MemoryModel& model);
VGGT_LAB_API std::vector<std::int64_t> predicted_totals(const ModelGraph& graph,
                                                        const Topology& topology, const Plan& plan,
                                                        const MemoryModel& model);

/// "512 B", "3.25 MiB", "78.40 GiB".
VGGT_LAB_API std::string format_bytes(std::int64_t bytes);

}  // namespace vggt_lab
