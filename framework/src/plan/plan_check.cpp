#include <algorithm>
#include <map>

#include "vggt_lab/placement.hpp"
#include "vggt_lab/schedule.hpp"

namespace vggt_lab {


int ModelGraph::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < units.size(); ++i) {
    if (units[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> check_plan(const ModelGraph& graph, const Topology& topology,
                                    const Plan& plan) {
  std::vector<std::string> problems;
  const auto& schedules = schedule_names();
  if (std::find(schedules.begin(), schedules.end(), plan.schedule) == schedules.end()) {
    std::string known;
    for (const auto& name : schedules) known += (known.empty() ? "" : ", ") + name;
    problems.push_back("schedule '" + plan.schedule + "' is unknown; the known ones: " + known);
  }
  if (plan.micro_batches < 1) {
    problems.push_back("micro_batches is " + std::to_string(plan.micro_batches) + "; a plan runs at least 1");
  }
  std::map<std::string, std::pair<int, int>> place;  // unit -> (stage, position)
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    const Stage& stage = plan.stages[s];
    if (stage.device < 0 || stage.device >= static_cast<int>(topology.devices.size())) {
      problems.push_back("stage " + std::to_string(s) + " is on device " +
                         std::to_string(stage.device) + ", but the topology has " +
                         std::to_string(topology.devices.size()) + " device(s)");
    }
    for (const std::string& unit : stage.units) {
      if (graph.index_of(unit) < 0) {
        problems.push_back("stage " + std::to_string(s) + " names unit '" + unit +
                           "', which the model does not have");
      } else if (!place.emplace(unit, std::make_pair(int(s), int(place.size()))).second) {
        problems.push_back("unit '" + unit + "' is placed twice (stages " +
                           std::to_string(place[unit].first) + " and " + std::to_string(s) + ")");
      }
    }
  }
  for (const Unit& unit : graph.units) {
    if (!place.count(unit.name)) problems.push_back("unit '" + unit.name + "' is not placed");
  }
  for (const Edge& edge : graph.edges) {
    auto from = place.find(edge.from);
    auto to = place.find(edge.to);
    if (from != place.end() && to != place.end() && from->second > to->second) {
      problems.push_back("tensor '" + edge.tensor + "' flows backwards, from '" + edge.from +
                         "' (stage " + std::to_string(from->second.first) + ") to '" + edge.to +
                         "' (stage " + std::to_string(to->second.first) +
                         "), which runs before it");
    }
  }
  return problems;
}

std::vector<int> stage_depths(const ModelGraph& graph, const Plan& plan) {
  std::map<std::string, int> stage_of;
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    for (const std::string& unit : plan.stages[s].units) stage_of[unit] = static_cast<int>(s);
  }
  std::vector<int> depth(plan.stages.size(), 0);
  // Stages are in a topological order, so one pass in order settles depths.
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    for (const Edge& edge : graph.edges) {
      auto from = stage_of.find(edge.from), to = stage_of.find(edge.to);
      if (from == stage_of.end() || to == stage_of.end() || to->second != int(s)) continue;
      if (from->second != int(s)) depth[s] = std::max(depth[s], depth[from->second] + 1);
    }
  }
  return depth;
}

}  // namespace vggt_lab
