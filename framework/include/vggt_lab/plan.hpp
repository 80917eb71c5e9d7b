#pragma once
// Where units run: logical devices, stages and the plan a placement returns.
#include <cstdint>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/graph.hpp"

namespace vggt_lab {

struct LogicalDevice {
  int index = 0;
  std::string physical;             // "cpu", "cuda:0", ...
  std::int64_t capacity_bytes = 0;  // 0: unlimited
};

struct Topology {
  std::vector<LogicalDevice> devices;
};

struct Stage {
  int device = 0;
  std::vector<std::string> units;  // in execution order
};

struct Plan {
  std::string strategy;
  std::vector<Stage> stages;  // in execution order
  int micro_batches = 1;
  std::string schedule = "sequential";
};

/// Structural checks: every unit placed exactly once, devices exist, and no
/// edge runs from a later stage back to an earlier one. Returns one message
/// per violation, naming the unit, stage or device.
VGGT_LAB_API std::vector<std::string> check_plan(const ModelGraph& graph, const Topology& topology,
                                                 const Plan& plan);

}  // namespace vggt_lab
