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

namespace {

/// Per stage, counted over the actions the plan runs: the most micro-batches
/// in flight (forwards whose backward has not run), and the most when one of
/// its backwards other than the first begins (every gradient of the stage is
/// allocated by then; 0 for a stage with one backward).
struct InFlight {
  std::vector<int> most, at_later_backwards;
};

InFlight in_flight(const Plan& plan, const std::vector<int>& depths) {
  const std::size_t stages = plan.stages.size();
  std::vector<int> held(stages, 0), backwards(stages, 0);
  InFlight out{std::vector<int>(stages, 1), std::vector<int>(stages, 0)};
  for (const auto& queue : action_queues(plan, depths)) {
    for (const Action& a : queue) {
      int& h = held.at(a.stage);
      if (a.pass == Pass::forward) {
        out.most[a.stage] = std::max(out.most[a.stage], ++h);
        continue;
      }
      if (backwards[a.stage]++ > 0) out.at_later_backwards[a.stage] = std::max(out.at_later_backwards[a.stage], h);
      --h;
    }
  }
  return out;
}

}  // namespace

std::vector<int> micro_batches_in_flight(const Plan& plan, const std::vector<int>& depths) {
  return in_flight(plan, depths).most;
}

namespace {

/// What a unit holds on its device: activations kept (all micro-batches in
/// flight; those in flight at its stage's later backwards; one
/// micro-batch's), its transient peak, its gradients.
struct Held {
  std::string unit;
  std::int64_t kept = 0, kept_later = 0, kept_one = 0, transient = 0, gradients = 0;
};

/// The device's peak comes while some unit u runs backward: for the first
/// micro-batch, units before u still hold their activations, units after it
/// have released one micro-batch's and allocated their gradients, and u adds
/// its transient and its gradients; at a later backward (1F1B's steady
/// state) every gradient is there, beside the micro-batches then in flight.
/// Fills activations, gradients and workspace as they stand at the largest
/// of those moments.
void at_peak(const std::vector<Held>& units, DeviceMemory& d) {
  std::int64_t all = 0, all_later = 0, all_gradients = 0;
  for (const Held& h : units) {
    all += h.kept;
    all_later += h.kept_later;
    all_gradients += h.gradients;
  }
  std::int64_t best = -1, later_released = 0, later_gradients = 0;
  auto consider = [&](const Held& h, std::int64_t activations, std::int64_t gradients) {
    if (activations + gradients + h.transient <= best) return;
    best = activations + gradients + h.transient;
    d.activations = activations;
    d.gradients = gradients;
    d.workspace = h.transient;
    d.peak_unit = h.unit;
  };
  for (std::size_t i = units.size(); i-- > 0;) {
    const Held& h = units[i];
    consider(h, all - later_released, later_gradients + h.gradients);
    if (all_later > 0) consider(h, all_later - later_released, all_gradients);
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

/// The frames [first, first + count) of each scene that a unit of a stage
/// holds on one device.
struct Shard {
  int device = 0;
  std::int64_t first = 0, count = 0;
};

/// Where a unit's frames are: any unit of an unsharded stage, and a whole
/// unit of a sharded one, holds all of them on the stage's (first) device; a
/// frame-wise unit of a sharded stage holds each device's contiguous shard.
std::vector<Shard> unit_shards(const Stage& stage, FrameSplit split, std::int64_t frames) {
  if (stage.frame_group.empty() || split == FrameSplit::whole) return {Shard{stage.device, 0, frames}};
  const std::vector<int> devices = stage_devices(stage);
  const std::vector<std::int64_t> counts = frame_shards(frames, int(devices.size()));
  std::vector<Shard> shards;
  std::int64_t first = 0;
  for (std::size_t k = 0; k < devices.size(); ++k) {
    shards.push_back(Shard{devices[k], first, counts[k]});
    first += counts[k];
  }
  return shards;
}

/// Frames of `needed` that `held` (on the same device) does not cover.
std::int64_t missing_frames(const Shard& needed, const std::vector<Shard>& held) {
  std::int64_t covered = 0;
  for (const Shard& h : held) {
    if (h.device != needed.device) continue;
    covered += std::max<std::int64_t>(0, std::min(needed.first + needed.count, h.first + h.count) -
                                             std::max(needed.first, h.first));
  }
  return std::max<std::int64_t>(0, needed.count - covered);
}

/// What one unit holds on one device of its stage, `share` its part of the
/// frames (and of its loss) and `gathered` the part of the keys and values
/// it gathers from the others.
Held held_on_device(const Unit& unit, const MemoryModel& model, double share, double gathered, double m,
                    double in_flight, double in_flight_later) {
  const bool frozen = model.frozen_units.count(unit.name) > 0;
  const bool checkpointed = model.checkpointing.on(unit.name) && !frozen;
  const double kept_gathered = frozen || checkpointed ? 0.0 : gathered * double(unit.cost.gathered_bytes);
  const double one = (double(unit_activations(unit, model)) * share + kept_gathered) / m;  // one micro-batch's
  const double transient = double(unit_transient(unit, model)) * share +
                           (checkpointed ? gathered * double(unit.cost.checkpoint_gathered_bytes) : 0.0);
  return {unit.name, std::llround(one * in_flight), std::llround(one * in_flight_later), std::llround(one),
          std::llround(transient / m), frozen ? 0 : unit.cost.param_bytes};
}

}  // namespace

std::map<std::string, int> optimizer_devices(const ModelGraph& graph, const Plan& plan,
                                             const std::set<std::string>& frozen_units) {
  std::map<std::string, int> out;
  for (const Stage& stage : plan.stages) {
    std::map<int, std::int64_t> load{{stage.device, 0}};  // parameter bytes each device steps
    for (int device : stage.frame_group) load[device] = 0;
    std::vector<const Unit*> spread;
    for (const std::string& name : stage.units) {
      const int index = graph.index_of(name);
      if (index < 0 || frozen_units.count(name)) continue;
      const Unit& unit = graph.units[index];
      if (stage.frame_group.empty() || unit.split == FrameSplit::whole) {
        out[name] = stage.device;
        load[stage.device] += unit.cost.param_bytes;
      } else {
        spread.push_back(&unit);
      }
    }
    std::stable_sort(spread.begin(), spread.end(),
                     [](const Unit* a, const Unit* b) { return a->cost.param_bytes > b->cost.param_bytes; });
    for (const Unit* unit : spread) {
      auto least = std::min_element(load.begin(), load.end(),
                                    [](const auto& a, const auto& b) { return a.second < b.second; });
      out[unit->name] = least->first;
      least->second += unit->cost.param_bytes;
    }
  }
  return out;
}

std::vector<DeviceMemory> predicted_memory(const ModelGraph& graph, const Topology& topology,
                                           const Plan& plan, const MemoryModel& model) {
  std::vector<DeviceMemory> memory(topology.devices.size());
  const std::map<std::string, int> stage_of = unit_stages(plan);
  const double m = std::max(1, plan.micro_batches), frames = double(std::max<std::int64_t>(1, graph.frames));
  const std::vector<int> depths = stage_depths(graph, plan);
  const InFlight counts = in_flight(plan, depths);
  const std::vector<int>& most = counts.most;
  const std::vector<int>& later = counts.at_later_backwards;
  auto on_topology = [&](int device) { return device >= 0 && device < int(memory.size()); };
  std::vector<std::vector<Held>> order(memory.size());  // per device, in execution order
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    for (const std::string& name : plan.stages[s].units) {
      const int index = graph.index_of(name);
      if (index < 0) continue;
      const Unit& unit = graph.units[index];
      for (const Shard& shard : unit_shards(plan.stages[s], unit.split, graph.frames)) {
        if (!on_topology(shard.device)) continue;
        DeviceMemory& d = memory[shard.device];
        d.parameters += unit.cost.param_bytes;
        const double share = double(shard.count) / frames;
        const double gathered = unit.split == FrameSplit::global ? 1.0 - share : 0.0;
        order[shard.device].push_back(held_on_device(unit, model, share, gathered, m, most.at(s), later.at(s)));
      }
    }
  }
  for (const auto& [name, device] : optimizer_devices(graph, plan, model.frozen_units)) {
    if (on_topology(device)) {
      memory[device].optimizer +=
          std::llround(double(graph.units[graph.index_of(name)].cost.param_bytes) * model.optimizer_state_factor);
    }
  }
  for (std::size_t d = 0; d < memory.size(); ++d) at_peak(order[d], memory[d]);
  std::set<std::pair<std::string, int>> received;  // a tensor arrives once per device
  for (const Edge& edge : graph.edges) {
    auto from = stage_of.find(edge.from), to = stage_of.find(edge.to);
    const int producer = graph.index_of(edge.from), consumer = graph.index_of(edge.to);
    if (from == stage_of.end() || to == stage_of.end() || producer < 0 || consumer < 0) continue;
    const auto held = unit_shards(plan.stages[from->second], graph.units[producer].split, graph.frames);
    for (const Shard& needed : unit_shards(plan.stages[to->second], graph.units[consumer].split, graph.frames)) {
      const std::int64_t missing = missing_frames(needed, held);
      if (!on_topology(needed.device) || missing == 0 || !received.emplace(edge.tensor, needed.device).second) {
        continue;
      }
      // A received tensor stays until backward, for every micro-batch in flight.
      memory[needed.device].buffers +=
          std::llround(double(edge.bytes) * double(missing) / frames / m * most.at(to->second));
    }
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
