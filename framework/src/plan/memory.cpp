#include "vggt_lab/memory.hpp"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>

namespace vggt_lab {

std::int64_t unit_memory(const Unit& unit, const MemoryModel& model) {
  double state = model.trainable ? 1.0 + model.optimizer_state_factor : 0.0;
  double params = static_cast<double>(unit.cost.param_bytes) * (1.0 + state);
  double activations =
      static_cast<double>(unit.cost.activation_bytes) * std::max(1, model.micro_batches_in_flight);
  return static_cast<std::int64_t>(std::llround(params + activations));
}

std::vector<std::int64_t> predicted_memory(const ModelGraph& graph, const Topology& topology,
                                           const Plan& plan, const MemoryModel& model) {
  std::vector<std::int64_t> memory(topology.devices.size(), 0);
  std::map<std::string, int> device_of;
  auto charge = [&](int device, std::int64_t bytes) {
    if (device >= 0 && device < static_cast<int>(memory.size())) memory[device] += bytes;
  };
  for (const Stage& stage : plan.stages) {
    for (const std::string& name : stage.units) {
      device_of[name] = stage.device;
      int index = graph.index_of(name);
      if (index >= 0) charge(stage.device, unit_memory(graph.units[index], model));
    }
  }
  std::set<std::pair<std::string, int>> received;  // a tensor arrives once per device
  for (const Edge& edge : graph.edges) {
    auto from = device_of.find(edge.from);
    auto to = device_of.find(edge.to);
    if (from != device_of.end() && to != device_of.end() && from->second != to->second &&
        received.emplace(edge.tensor, to->second).second) {
      charge(to->second, edge.bytes * std::max(1, model.micro_batches_in_flight));
    }
  }
  return memory;
}

std::string format_bytes(std::int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (std::abs(value) >= 1024.0 && unit < 4) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, kUnits[unit]);
  return text;
}

}  // namespace vggt_lab
