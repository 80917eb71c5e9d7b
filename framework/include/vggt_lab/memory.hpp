#pragma once
// Predicted memory of a plan, per logical device. Shared by every placement
// strategy and by `vggt-lab plan`, so all of them are judged by one formula:
//   parameters + gradients + optimizer state + saved activations
//   x micro-batches in flight + receive buffers for tensors from other devices.
#include <cstdint>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/plan.hpp"

namespace vggt_lab {

struct MemoryModel {
  bool trainable = true;               // gradients and optimizer state exist
  double optimizer_state_factor = 2.0; // optimizer bytes per parameter byte (AdamW: 2)
  int micro_batches_in_flight = 1;
};

/// One unit alone: parameters, gradients, optimizer state and activations.
VGGT_LAB_API std::int64_t unit_memory(const Unit& unit, const MemoryModel& model);

/// Per logical device (indexed like topology.devices), including a receive
/// buffer on the consumer's device for every edge that crosses devices.
VGGT_LAB_API std::vector<std::int64_t> predicted_memory(const ModelGraph& graph,
                                                        const Topology& topology, const Plan& plan,
                                                        const MemoryModel& model);

/// "512 B", "3.25 MiB", "78.40 GiB".
VGGT_LAB_API std::string format_bytes(std::int64_t bytes);

}  // namespace vggt_lab
