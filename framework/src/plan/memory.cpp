#include "vggt_lab/memory.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "vggt_lab/schedule.hpp"

namespace vggt_lab {

std::int64_t unit_activations(const Unit& unit, const MemoryModel& model) {
  if (model.frozen_units.count(unit.name)) return 0;
  const UnitCost& c = unit.cost;
  if (model.checkpointing.on(unit.name)) {
    return c.checkpoint_bytes + (model.fused_attention ? 0 : c.checkpoint_attention_bytes);
  }
  return c.activation_bytes + (model.fused_attention ? 0 : c.attention_bytes);
}

std::int64_t unit_memory(const Unit& unit, const MemoryModel& model) {
  bool frozen = model.frozen_units.count(unit.name) > 0;
  double state = frozen ? 0.0 : 1.0 + model.optimizer_state_factor;
  return static_cast<std::int64_t>(std::llround(double(unit.cost.param_bytes) * (1.0 + state))) +
         unit_activations(unit, model);
}

std::vector<int> micro_batches_in_flight(const Plan& plan, const std::vector<int>& depths) {
  std::vector<int> in_flight(plan.stages.size(), 0), most(plan.stages.size(), 1);
  for (const auto& queue : action_queues(plan, depths)) {  // forwards whose backward has not run
    for (const Action& a : queue) {
      int& held = in_flight.at(a.stage);
      held += a.pass == Pass::forward ? 1 : -1;
      most[a.stage] = std::max(most[a.stage], held);
    }
  }
  return most;
}

namespace {

/// What a unit holds on its device: activations kept (all micro-batches in
/// flight, and one micro-batch's), its transient peak, its gradients.
struct Held {
  std::string unit;
  std::int64_t kept = 0, kept_one = 0, transient = 0, gradients = 0;
};

/// The device's peak comes while some unit u runs backward for the first
/// micro-batch: units before u still hold their activations, units after it
/// have released one micro-batch's and allocated their gradients, and u adds
/// its transient and its gradients. Fills activations, gradients and
/// workspace as they stand at the largest of those moments.
void at_peak(const std::vector<Held>& units, DeviceMemory& d) {
  std::int64_t all = 0;
  for (const Held& h : units) all += h.kept;
  std::int64_t best = -1, later_released = 0, later_gradients = 0;
  for (std::size_t i = units.size(); i-- > 0;) {
    const Held& h = units[i];
    const std::int64_t activations = all - later_released, gradients = later_gradients + h.gradients;
    if (activations + gradients + h.transient > best) {
      best = activations + gradients + h.transient;
      d.activations = activations;
      d.gradients = gradients;
      d.workspace = h.transient;
      d.peak_unit = h.unit;
    }
    later_released += h.kept_one;
    later_gradients += h.gradients;
  }
}

/// Transient memory of a unit above what it keeps: measured workspace, plus
/// one checkpointed piece's recomputed activations.
std::int64_t unit_transient(const Unit& unit, const MemoryModel& model) {
  std::int64_t transient = unit.cost.workspace_bytes;
  if (model.checkpointing.on(unit.name) && !model.frozen_units.count(unit.name)) {
    transient += unit.cost.recompute_bytes + (model.fused_attention ? 0 : unit.cost.recompute_attention_bytes);
  }
  return transient;
}

}  // namespace

std::vector<DeviceMemory> predicted_memory(const ModelGraph& graph, const Topology& topology,
                                           const Plan& plan, const MemoryModel& model) {
  std::vector<DeviceMemory> memory(topology.devices.size());
  const std::map<std::string, int> stage_of = unit_stages(plan);
  const double m = std::max(1, plan.micro_batches);
  const std::vector<int> most = micro_batches_in_flight(plan, stage_depths(graph, plan));
  auto in_flight = [&](int s) { return double(most.at(s)); };
  std::vector<std::vector<Held>> order(memory.size());  // per device, in execution order
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    const Stage& stage = plan.stages[s];
    if (stage.device < 0 || stage.device >= static_cast<int>(memory.size())) continue;
    DeviceMemory& d = memory[stage.device];
    for (const std::string& name : stage.units) {
      int index = graph.index_of(name);
      if (index < 0) continue;
      const Unit& unit = graph.units[index];
      const std::int64_t params = unit.cost.param_bytes;
      bool frozen = model.frozen_units.count(name) > 0;
      d.parameters += params;
      if (!frozen) d.optimizer += std::llround(double(params) * model.optimizer_state_factor);
      const double one = double(unit_activations(unit, model)) / m;  // one micro-batch's
      order[stage.device].push_back({name, std::llround(one * in_flight(int(s))), std::llround(one),
                                     std::llround(double(unit_transient(unit, model)) / m), frozen ? 0 : params});
    }
  }
  for (std::size_t d = 0; d < memory.size(); ++d) at_peak(order[d], memory[d]);
  std::set<std::pair<std::string, int>> received;  // a tensor arrives once per device
  auto device_of = [&](const std::string& unit) {  // -1: not placed, or on no device
    auto stage = stage_of.find(unit);
    const int device = stage == stage_of.end() ? -1 : plan.stages[stage->second].device;
    return device >= 0 && device < int(memory.size()) ? device : -1;
  };
  for (const Edge& edge : graph.edges) {
    const int from = device_of(edge.from), to = device_of(edge.to);
    if (from < 0 || to < 0 || from == to || !received.emplace(edge.tensor, to).second) continue;
    // A received tensor stays until backward, for every micro-batch in flight.
    memory[to].buffers += std::llround(double(edge.bytes) / m * in_flight(stage_of.at(edge.to)));
  }
  return memory;
}

std::vector<std::int64_t> predicted_totals(const ModelGraph& graph, const Topology& topology,
                                           const Plan& plan, const MemoryModel& model) {
  std::vector<std::int64_t> totals;
  for (const DeviceMemory& d : predicted_memory(graph, topology, plan, model)) totals.push_back(d.total());
  return totals;
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
