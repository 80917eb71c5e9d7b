#pragma once
// A picture of a plan: the model's units along their DAG coloured by device,
// each device's predicted memory split, and the predicted schedule as a
// Gantt chart. `vggt-lab plan --svg` writes it; a run folder gets plan.svg.
#include <string>

#include "plan/planning.hpp"

namespace vggt_lab::report {

VGGT_LAB_API std::string layout_picture(const PlanReport& report);

}  // namespace vggt_lab::report
