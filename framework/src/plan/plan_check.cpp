#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "vggt_lab/error.hpp"
#include "vggt_lab/placement.hpp"
#include "vggt_lab/schedule.hpp"

namespace vggt_lab {

int ModelGraph::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < units.size(); ++i) {
    if (units[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

std::string action_text(const Action& a) {
  return std::string(a.pass == Pass::forward ? "forward" : "backward") + " of stage " + std::to_string(a.stage) +
         ", micro-batch " + std::to_string(a.micro_batch);
}

/// A custom schedule's lists: each action once, on its stage's device, its
/// forward before its backward.
void check_device_actions(const Topology& topology, const Plan& plan, std::vector<std::string>& problems) {
  if (plan.device_actions.size() > topology.devices.size()) {
    problems.push_back("device_actions has lists for " + std::to_string(plan.device_actions.size()) +
                       " devices, but the topology has " + std::to_string(topology.devices.size()));
  }
  std::map<std::tuple<int, int, int>, int> seen;  // (stage, pass, micro-batch) -> device
  for (int d = 0; d < int(plan.device_actions.size()); ++d) {
    for (const Action& a : plan.device_actions[d]) {
      const std::string where = "device " + std::to_string(d) + "'s " + action_text(a);
      if (a.stage < 0 || a.stage >= int(plan.stages.size()) || a.micro_batch < 0 ||
          a.micro_batch >= plan.micro_batches) {
        problems.push_back(where + ": no such stage or micro-batch");
      } else if (plan.stages[a.stage].device != d) {
        problems.push_back(where + ": stage " + std::to_string(a.stage) + " is on device " +
                           std::to_string(plan.stages[a.stage].device));
      } else if (!seen.emplace(std::make_tuple(a.stage, int(a.pass), a.micro_batch), d).second) {
        problems.push_back(where + ": listed twice");
      } else if (a.pass == Pass::backward && !seen.count({a.stage, int(Pass::forward), a.micro_batch})) {
        problems.push_back(where + ": comes before its forward");
      }
    }
  }
  for (int s = 0; s < int(plan.stages.size()); ++s) {
    for (int mb = 0; mb < plan.micro_batches; ++mb) {
      for (Pass pass : {Pass::forward, Pass::backward}) {
        if (!seen.count({s, int(pass), mb})) problems.push_back(action_text({s, pass, mb}) + " is in no device's list");
      }
    }
  }
}

/// A named schedule, or "custom" with its lists.
void check_schedule(const Topology& topology, const Plan& plan, std::vector<std::string>& problems) {
  if (plan.schedule == "custom") return check_device_actions(topology, plan, problems);
  const auto& schedules = schedule_names();
  if (std::find(schedules.begin(), schedules.end(), plan.schedule) == schedules.end()) {
    std::string known;
    for (const auto& name : schedules) known += (known.empty() ? "" : ", ") + name;
    problems.push_back("schedule '" + plan.schedule + "' is unknown; the known ones: " + known +
                       ", or \"custom\" with device_actions");
  } else if (!plan.device_actions.empty()) {
    problems.push_back("device_actions are given, but schedule is '" + plan.schedule + "'; set it to \"custom\"");
  }
}

/// A stage's devices exist and are distinct; a custom schedule runs no
/// frame-sharded stage (its lists name one device per action).
void check_devices(const Topology& topology, const Plan& plan, std::size_t s, std::vector<std::string>& problems) {
  const Stage& stage = plan.stages[s];
  const std::string name = "stage " + std::to_string(s);
  std::set<int> seen;
  for (int device : stage_devices(stage)) {
    if (device < 0 || device >= static_cast<int>(topology.devices.size())) {
      problems.push_back(name + " is on device " + std::to_string(device) + ", but the topology has " +
                         std::to_string(topology.devices.size()) + " device(s)");
    } else if (!seen.insert(device).second) {
      problems.push_back(name + " names device " + std::to_string(device) + " twice in its frame group");
    }
  }
  if (!stage.frame_group.empty() && plan.schedule == "custom") {
    problems.push_back(name + " shards frames over a group, which a custom schedule cannot run yet; "
                       "use a named schedule");
  }
}

}  // namespace

Stage whole_model(const ModelGraph& graph, int device) {
  Stage stage{device, {}, {}};
  for (const Unit& unit : graph.units) stage.units.push_back(unit.name);
  return stage;
}

std::vector<int> stage_devices(const Stage& stage) {
  std::vector<int> devices{stage.device};
  devices.insert(devices.end(), stage.frame_group.begin(), stage.frame_group.end());
  return devices;
}

std::vector<std::int64_t> frame_shards(std::int64_t frames, int devices) {
  std::vector<std::int64_t> shards(std::max(1, devices), frames / std::max(1, devices));
  for (std::int64_t k = 0; k < frames % std::int64_t(shards.size()); ++k) ++shards[k];
  return shards;
}

std::vector<std::string> check_plan(const ModelGraph& graph, const Topology& topology,
                                    const Plan& plan) {
  std::vector<std::string> problems;
  check_schedule(topology, plan, problems);
  if (plan.micro_batches < 1) {
    problems.push_back("micro_batches is " + std::to_string(plan.micro_batches) + "; a plan runs at least 1");
  }
  std::map<std::string, std::pair<int, int>> place;  // unit -> (stage, position)
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    const Stage& stage = plan.stages[s];
    check_devices(topology, plan, s, problems);
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
  if (problems.empty()) {  // the order runs: no device waits on one that waits on it
    try {
      simulate(graph, plan, [](int, Pass) { return 1.0; }, [](int, int) { return 0.0; });
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  return problems;
}

std::map<std::string, int> unit_stages(const Plan& plan) {
  std::map<std::string, int> stage_of;
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    for (const std::string& unit : plan.stages[s].units) stage_of[unit] = static_cast<int>(s);
  }
  return stage_of;
}

std::vector<int> stage_depths(const ModelGraph& graph, const Plan& plan) {
  const std::map<std::string, int> stage_of = unit_stages(plan);
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
