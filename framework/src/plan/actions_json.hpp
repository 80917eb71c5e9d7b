#pragma once
// Timed actions as JSON: plan.json's predicted timeline and a run's
// timeline.json write them alike.
#include <nlohmann/json.hpp>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/schedule.hpp"

namespace vggt_lab {

/// [{"device", "stage", "micro_batch", "pass", "start", "end"}, ...]
VGGT_LAB_API nlohmann::ordered_json actions_json(const std::vector<TimedAction>& actions);

}  // namespace vggt_lab
