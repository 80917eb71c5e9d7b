// `balanced-memory`: minimises the largest predicted per-device memory.
//
// The trunk (units that feed others: the patch embedder and the aggregator's
// block pairs) stays in order and contiguous per device; heads (units nothing
// reads) are placed whole. A binary search over the peak bound T asks: can the
// trunk be cut greedily under T, and the heads (largest first) then go where
// they raise the peak least, with every device under min(T, capacity)? Memory
// is predicted by the core's formula, receive buffers for crossing tensors
// included.
#include <algorithm>
#include <numeric>
#include <optional>
#include <set>
#include <vggt_lab/memory.hpp>
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

using vggt_lab::Plan;
using vggt_lab::Stage;

class BalancedMemory : public vggt_lab::Placement {
 public:
  explicit BalancedMemory(vggt_lab::MemoryModel model) : model_(model) {}

  Plan place(const vggt_lab::ModelGraph& graph,
             const vggt_lab::Topology& topology) const override {
    if (topology.devices.empty()) throw vggt_lab::InputError("the topology has no devices");
    Split parts = split(graph);
    std::int64_t low = 0;
    std::int64_t high = total_memory(graph);
    std::optional<Plan> best = attempt(graph, topology, parts, high);
    if (!best) throw vggt_lab::InputError(why_nothing_fits(graph, topology));
    while (low + 1 < high) {  // invariant: `high` is feasible, `low` is not
      std::int64_t mid = low + (high - low) / 2;
      if (auto plan = attempt(graph, topology, parts, mid)) {
        best = std::move(plan);
        high = mid;
      } else {
        low = mid;
      }
    }
    return *best;
  }

 private:
  struct Split {
    std::vector<std::string> trunk;  // in graph order
    std::vector<std::string> heads;  // largest first
  };

  vggt_lab::MemoryModel model_;

  /// Trunk units feed another unit; heads feed none.
  Split split(const vggt_lab::ModelGraph& graph) const {
    std::set<std::string> producers;
    for (const auto& edge : graph.edges) producers.insert(edge.from);
    Split parts;
    for (const auto& unit : graph.units) {
      (producers.count(unit.name) ? parts.trunk : parts.heads).push_back(unit.name);
    }
    auto size = [&](const std::string& name) {
      return unit_memory(graph.units[graph.index_of(name)], model_);
    };
    std::stable_sort(parts.heads.begin(), parts.heads.end(),
                     [&](const auto& a, const auto& b) { return size(a) > size(b); });
    return parts;
  }

  std::int64_t total_memory(const vggt_lab::ModelGraph& graph) const {
    std::int64_t total = 0;
    for (const auto& unit : graph.units) total += unit_memory(unit, model_);
    for (const auto& edge : graph.edges) total += edge.bytes * model_.micro_batches_in_flight;
    return total;
  }

  static std::int64_t limit(const vggt_lab::Topology& topology, int device, std::int64_t bound) {
    std::int64_t capacity = topology.devices[device].capacity_bytes;
    return capacity > 0 ? std::min(capacity, bound) : bound;
  }

  bool fits(const vggt_lab::ModelGraph& graph, const vggt_lab::Topology& topology,
            const Plan& plan, std::int64_t bound) const {
    auto memory = predicted_memory(graph, topology, plan, model_);
    for (std::size_t d = 0; d < memory.size(); ++d) {
      if (memory[d] > limit(topology, static_cast<int>(d), bound)) return false;
    }
    return true;
  }

  std::optional<Plan> attempt(const vggt_lab::ModelGraph& graph,
                              const vggt_lab::Topology& topology, const Split& parts,
                              std::int64_t bound) const {
    Plan plan;
    plan.strategy = "balanced-memory";
    if (!cut_trunk(graph, topology, parts.trunk, bound, plan)) return std::nullopt;
    for (const std::string& head : parts.heads) {
      if (!place_head(graph, topology, bound, head, plan)) return std::nullopt;
    }
    return plan;
  }

  /// Fills devices in order, moving on when the next trunk unit would not fit.
  bool cut_trunk(const vggt_lab::ModelGraph& graph, const vggt_lab::Topology& topology,
                 const std::vector<std::string>& trunk, std::int64_t bound, Plan& plan) const {
    int device = 0;
    plan.stages.push_back({device, {}});
    for (const std::string& unit : trunk) {
      plan.stages.back().units.push_back(unit);
      while (!fits(graph, topology, plan, bound)) {
        plan.stages.back().units.pop_back();
        if (++device >= static_cast<int>(topology.devices.size())) return false;
        if (plan.stages.back().units.empty()) plan.stages.pop_back();
        plan.stages.push_back({device, {unit}});
      }
    }
    if (plan.stages.back().units.empty()) plan.stages.pop_back();
    return true;
  }

  /// Puts a head, as its own stage, on the device where the peak stays lowest.
  bool place_head(const vggt_lab::ModelGraph& graph, const vggt_lab::Topology& topology,
                  std::int64_t bound, const std::string& head, Plan& plan) const {
    std::optional<int> best;
    std::int64_t best_peak = 0;
    for (int d = 0; d < static_cast<int>(topology.devices.size()); ++d) {
      plan.stages.push_back({d, {head}});
      auto memory = predicted_memory(graph, topology, plan, model_);
      std::int64_t peak = *std::max_element(memory.begin(), memory.end());
      if (fits(graph, topology, plan, bound) && (!best || peak < best_peak)) {
        best = d;
        best_peak = peak;
      }
      plan.stages.pop_back();
    }
    if (best) plan.stages.push_back({*best, {head}});
    return best.has_value();
  }

  std::string why_nothing_fits(const vggt_lab::ModelGraph& graph,
                               const vggt_lab::Topology& topology) const {
    std::int64_t capacity = 0;
    for (const auto& device : topology.devices) capacity += device.capacity_bytes;
    const vggt_lab::Unit* largest = nullptr;
    for (const auto& unit : graph.units) {
      if (!largest || unit_memory(unit, model_) > unit_memory(*largest, model_)) largest = &unit;
    }
    std::string text = "balanced-memory: no placement fits on " +
                       std::to_string(topology.devices.size()) + " device(s) with " +
                       vggt_lab::format_bytes(capacity) + " in all; the model needs about " +
                       vggt_lab::format_bytes(total_memory(graph)) + " (parameters, gradients, optimizer state, "
                       "activations and transfer buffers)";
    if (largest) {
      text += "; the largest unit, '" + largest->name + "', alone needs " +
              vggt_lab::format_bytes(unit_memory(*largest, model_));
    }
    return text + ". Add devices, raise [devices] memory, or shrink the batch or frames.";
  }
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "balanced-memory";
  info.version = "1.0";
  info.summary = "Minimise the largest predicted per-device memory; trunk contiguous, heads whole";
  info.doc =
      "Splits the trunk (patch embedder and aggregator block pairs) into contiguous, ordered\n"
      "segments, one per device, and places each head whole, so that the largest predicted\n"
      "per-device memory (parameters, gradients, optimizer state, saved activations and\n"
      "receive buffers) is as small as it can be under each device's capacity. When nothing\n"
      "fits it says how much is needed and which unit is largest.";
  info.schema
      .number("optimizer_state_factor", 2.0,
              "Optimizer state in bytes per parameter byte (AdamW keeps two moments: 2)", 0.0)
      .boolean("trainable", true, "Whether gradients and optimizer state are held");
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        vggt_lab::MemoryModel model;
        model.optimizer_state_factor = options.get<double>("optimizer_state_factor");
        model.trainable = options.get<bool>("trainable");
        return std::make_unique<BalancedMemory>(model);
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "balanced-memory", "1.0", register_plugins)
