// `balanced-memory`: minimises the largest predicted per-device memory.
//
// The trunk (units that feed others: the patch embedder and the aggregator's
// attention blocks) stays in order and contiguous per device; heads (units
// nothing reads) are placed whole. A binary search over the peak bound T asks:
// can the trunk be cut greedily under T, and the heads (largest first) then
// go where they raise the peak least, with every device under
// min(T, capacity)? A second search then lowers the bound the trunk is cut
// under as far as the plan still fits under T, which spreads the trunk over
// the devices instead of filling the first ones; local moves (a unit across a
// boundary or onto a free device, a head elsewhere) then lower the peaks while
// they can. With `splits` the trunk is cut where given instead. Memory is the
// core's prediction, so transfer buffers for the skip tensors count. With
// frame_shards = g the search places onto groups of g devices, each stage
// sharding its frames over its group, judged by the group's fullest device.
#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

using vggt_lab::Plan;
using vggt_lab::PlacementProblem;

/// The problem as the search sees it: groups of `shards` logical devices,
/// group k on devices k*shards.., its stages sharding their frames over it.
struct Grouped {
  const PlacementProblem& real;
  int shards = 1;

  int groups() const { return int(real.topology.devices.size()) / shards; }

  /// The plan on logical devices: group k's stages on device k*shards with the rest of the group.
  Plan expand(Plan plan) const {
    for (auto& stage : plan.stages) {
      stage.device *= shards;
      for (int k = 1; k < shards; ++k) stage.frame_group.push_back(stage.device + k);
    }
    return plan;
  }

  /// Each group's largest predicted total.
  std::vector<std::int64_t> memory(const Plan& plan) const {
    auto totals = predicted_totals(real.graph, real.topology, expand(plan), real.memory);
    std::vector<std::int64_t> out(groups(), 0);
    for (int d = 0; d < groups() * shards; ++d) out[d / shards] = std::max(out[d / shards], totals[d]);
    return out;
  }

  /// `bound`, or the smallest capacity in the group when lower.
  std::int64_t limit(int group, std::int64_t bound) const {
    for (int k = 0; k < shards; ++k) {
      const std::int64_t capacity = real.topology.devices[group * shards + k].capacity_bytes;
      if (capacity > 0) bound = std::min(bound, capacity);
    }
    return bound;
  }
};

class BalancedMemory : public vggt_lab::Placement {
  struct Split {
    std::vector<std::string> trunk;  // in graph order
    std::vector<std::string> heads;  // largest first
  };

 public:
  BalancedMemory(std::vector<std::int64_t> splits, int frame_shards)
      : splits_(std::move(splits)), frame_shards_(frame_shards) {}

  Plan place(const PlacementProblem& real) const override {
    if (real.topology.devices.empty()) throw vggt_lab::InputError("the topology has no devices");
    if (int(real.topology.devices.size()) < frame_shards_) {
      throw vggt_lab::InputError("[placement] frame_shards = " + std::to_string(frame_shards_) + " needs at least " +
                                 std::to_string(frame_shards_) + " devices, but there are " +
                                 std::to_string(real.topology.devices.size()) +
                                 "; raise [devices] count or lower frame_shards");
    }
    const Grouped problem{real, frame_shards_};
    Split parts = split(problem);
    Plan plan = splits_.empty() ? balanced(problem, parts) : given(problem, parts);
    const std::size_t trunk_stages = plan.stages.size() - parts.heads.size();
    for (std::size_t s = 1; s < trunk_stages; ++s) {
      auto first = std::find(parts.trunk.begin(), parts.trunk.end(), plan.stages[s].units.front());
      plan.splits.push_back(first - parts.trunk.begin());
    }
    return problem.expand(std::move(plan));
  }

 private:
  std::vector<std::int64_t> splits_;  // given trunk cut points (empty: search)
  int frame_shards_;                  // devices each stage shards its frames over

  static Plan balanced(const Grouped& problem, const Split& parts) {
    const std::int64_t total = total_memory(problem);
    std::optional<Plan> best = attempt(problem, parts, total, total);
    if (!best) throw vggt_lab::InputError(why_nothing_fits(problem));
    const std::int64_t peak = smallest(0, total, [&](std::int64_t bound) {
      return attempt(problem, parts, bound, bound);
    }, best);
    smallest(0, peak, [&](std::int64_t trunk) { return attempt(problem, parts, peak, trunk); }, best);
    return improve(problem, parts, std::move(*best));
  }

  /// The trunk cut where `splits_` says, segments on devices 0, 1, ...; heads
  /// where they raise the peak least.
  Plan given(const Grouped& problem, const Split& parts) const {
    const std::int64_t trunk = std::int64_t(parts.trunk.size());
    const std::size_t segments = splits_.size() + 1;
    const bool fits = segments <= problem.groups() &&  // the schema holds them increasing
                      std::all_of(splits_.begin(), splits_.end(), [&](std::int64_t g) { return g >= 1 && g < trunk; });
    if (!fits) {
      throw vggt_lab::InputError(
          "[placement] splits: at most " + std::to_string(problem.groups() - 1) +
          " positions between 1 and " + std::to_string(trunk - 1) +
          " in the trunk (embed = 0, block.0 = 1, ...), where the segments on devices 1, 2, ... begin");
    }
    Plan plan;
    plan.strategy = "balanced-memory";
    for (std::size_t k = 0; k < segments; ++k) {
      const std::int64_t from = k == 0 ? 0 : splits_[k - 1], to = k + 1 < segments ? splits_[k] : trunk;
      plan.stages.push_back({int(k), {parts.trunk.begin() + from, parts.trunk.begin() + to}});
    }
    for (const std::string& head : parts.heads) {
      if (!place_head(problem, std::numeric_limits<std::int64_t>::max(), head, plan)) {
        throw vggt_lab::InputError("balanced-memory: with splits as given, '" + head +
                                   "' fits on no device; move the splits or drop them to let the strategy choose");
      }
    }
    return plan;
  }

 private:

  /// Trunk units feed another unit; heads feed none.
  static Split split(const Grouped& problem) {
    const auto& graph = problem.real.graph;
    std::set<std::string> producers;
    for (const auto& edge : graph.edges) producers.insert(edge.from);
    Split parts;
    for (const auto& unit : graph.units) {
      (producers.count(unit.name) ? parts.trunk : parts.heads).push_back(unit.name);
    }
    auto size = [&](const std::string& name) {
      return unit_memory(graph.units[graph.index_of(name)], problem.real.memory);
    };
    std::stable_sort(parts.heads.begin(), parts.heads.end(),
                     [&](const auto& a, const auto& b) { return size(a) > size(b); });
    return parts;
  }

  /// An upper bound on any device's predicted memory: everything on one
  /// device, plus every tensor as a receive buffer.
  static std::int64_t total_memory(const Grouped& problem) {
    Plan all{"", {vggt_lab::whole_model(problem.real.graph, 0)}, 1, "sequential"};
    std::int64_t total = predicted_totals(problem.real.graph, problem.real.topology, all, problem.real.memory)[0];
    for (const auto& edge : problem.real.graph.edges) total += edge.bytes;
    return total;
  }

  static std::vector<std::int64_t> memory(const Grouped& problem, const Plan& plan) { return problem.memory(plan); }

  static bool fits(const Grouped& problem, const Plan& plan, std::int64_t bound) {
    auto totals = memory(problem, plan);
    for (std::size_t d = 0; d < totals.size(); ++d) {
      if (totals[d] > problem.limit(static_cast<int>(d), bound)) return false;
    }
    return true;
  }

  /// Binary search for the smallest bound in (low, high] whose attempt
  /// succeeds; `high` must succeed. Keeps the best plan found.
  template <class Attempt>
  static std::int64_t smallest(std::int64_t low, std::int64_t high, const Attempt& attempt,
                               std::optional<Plan>& best) {
    while (low + 1 < high) {  // invariant: `high` is feasible, `low` is not
      std::int64_t mid = low + (high - low) / 2;
      if (auto plan = attempt(mid)) {
        best = std::move(plan);
        high = mid;
      } else {
        low = mid;
      }
    }
    return high;
  }

  /// Trunk cut under `trunk_bound`, every device under `bound`.
  static std::optional<Plan> attempt(const Grouped& problem, const Split& parts,
                                     std::int64_t bound, std::int64_t trunk_bound) {
    Plan plan;
    plan.strategy = "balanced-memory";
    if (!cut_trunk(problem, parts.trunk, std::min(bound, trunk_bound), plan)) return std::nullopt;
    for (const std::string& head : parts.heads) {
      if (!place_head(problem, bound, head, plan)) return std::nullopt;
    }
    return plan;
  }

  /// Fills devices in order, moving on when the next trunk unit would not fit.
  static bool cut_trunk(const Grouped& problem, const std::vector<std::string>& trunk,
                        std::int64_t bound, Plan& plan) {
    const int devices = static_cast<int>(problem.groups());
    int device = 0;
    plan.stages.push_back({device, {}});
    for (const std::string& unit : trunk) {
      plan.stages.back().units.push_back(unit);
      while (!fits(problem, plan, bound)) {
        plan.stages.back().units.pop_back();
        if (++device >= devices) return false;
        if (plan.stages.back().units.empty()) plan.stages.pop_back();
        plan.stages.push_back({device, {unit}});
      }
    }
    if (plan.stages.back().units.empty()) plan.stages.pop_back();
    return true;
  }

  /// Puts a head, as its own stage, on the device where the peak stays lowest.
  static bool place_head(const Grouped& problem, std::int64_t bound,
                         const std::string& head, Plan& plan) {
    std::optional<int> best;
    std::int64_t best_peak = 0;
    for (int d = 0; d < static_cast<int>(problem.groups()); ++d) {
      plan.stages.push_back({d, {head}});
      auto totals = memory(problem, plan);
      std::int64_t peak = *std::max_element(totals.begin(), totals.end());
      if (fits(problem, plan, bound) && (!best || peak < best_peak)) {
        best = d;
        best_peak = peak;
      }
      plan.stages.pop_back();
    }
    if (best) plan.stages.push_back({*best, {head}});
    return best.has_value();
  }

  /// Per-device totals, largest first: plans compare by their largest peak,
  /// then the next, and so on.
  static std::vector<std::int64_t> ranked(const Grouped& problem, const Plan& plan) {
    auto totals = memory(problem, plan);
    std::sort(totals.rbegin(), totals.rend());
    return totals;
  }

  /// Plans one move away: a trunk unit across a boundary between adjacent
  /// trunk stages, an end unit of a segment to a device without trunk units,
  /// or a head to another device.
  static std::vector<Plan> neighbours(const Grouped& problem, const Plan& plan, std::size_t trunk_stages) {
    std::vector<Plan> out;
    for (std::size_t s = 0; s + 1 < trunk_stages; ++s) {
      const auto& left = plan.stages[s].units;
      const auto& right = plan.stages[s + 1].units;
      if (left.size() > 1) {
        Plan next = plan;
        next.stages[s + 1].units.insert(next.stages[s + 1].units.begin(), left.back());
        next.stages[s].units.pop_back();
        out.push_back(std::move(next));
      }
      if (right.size() > 1) {
        Plan next = plan;
        next.stages[s].units.push_back(right.front());
        next.stages[s + 1].units.erase(next.stages[s + 1].units.begin());
        out.push_back(std::move(next));
      }
    }
    std::set<int> free;  // devices without trunk units
    for (int d = 0; d < static_cast<int>(problem.groups()); ++d) free.insert(d);
    for (std::size_t s = 0; s < trunk_stages; ++s) free.erase(plan.stages[s].device);
    for (std::size_t s = 0; s < trunk_stages; ++s) {
      if (plan.stages[s].units.size() < 2) continue;
      // An end unit to a new segment on a free device between its neighbours
      // (segments keep increasing device numbers).
      const int low = s > 0 ? plan.stages[s - 1].device : -1, own = plan.stages[s].device;
      const int high = s + 1 < trunk_stages ? plan.stages[s + 1].device : int(problem.groups());
      for (int d : free) {
        if (d > own && d < high) {
          Plan after = plan;
          after.stages.insert(after.stages.begin() + long(s) + 1, {d, {plan.stages[s].units.back()}});
          after.stages[s].units.pop_back();
          out.push_back(std::move(after));
        }
        if (d > low && d < own) {
          Plan before = plan;
          before.stages.insert(before.stages.begin() + long(s), {d, {plan.stages[s].units.front()}});
          before.stages[s + 1].units.erase(before.stages[s + 1].units.begin());
          out.push_back(std::move(before));
        }
      }
    }
    for (std::size_t s = trunk_stages; s < plan.stages.size(); ++s) {
      for (int d = 0; d < static_cast<int>(problem.groups()); ++d) {
        if (d == plan.stages[s].device) continue;
        Plan next = plan;
        next.stages[s].device = d;
        out.push_back(std::move(next));
      }
    }
    return out;
  }

  /// Local search after the bound searches: takes the best single move while
  /// it lowers the ranked peaks and every device stays within capacity.
  static Plan improve(const Grouped& problem, const Split& parts, Plan plan) {
    // attempt() puts the trunk's stages first, then one stage per head.
    auto trunk_stages = [&] { return plan.stages.size() - parts.heads.size(); };
    std::vector<std::int64_t> score = ranked(problem, plan);
    for (bool moved = true; moved;) {
      moved = false;
      for (Plan& next : neighbours(problem, plan, trunk_stages())) {
        auto next_score = ranked(problem, next);
        if (next_score < score && fits(problem, next, next_score.front())) {
          plan = std::move(next);
          score = std::move(next_score);
          moved = true;
        }
      }
    }
    return plan;
  }

  static std::string why_nothing_fits(const Grouped& problem) {
    std::int64_t capacity = 0;
    for (const auto& device : problem.real.topology.devices) capacity += device.capacity_bytes;
    const vggt_lab::Unit* largest = nullptr;
    for (const auto& unit : problem.real.graph.units) {
      if (!largest || unit_memory(unit, problem.real.memory) > unit_memory(*largest, problem.real.memory)) {
        largest = &unit;
      }
    }
    std::string text = "balanced-memory: no placement fits on " +
                       std::to_string(problem.real.topology.devices.size()) + " device(s)" +
                       (problem.shards > 1 ? " (" + std::to_string(problem.groups()) + " group(s) of " +
                                                 std::to_string(problem.shards) + " sharing each stage's frames)"
                                           : std::string()) +
                       " with " +
                       vggt_lab::format_bytes(capacity) + " in all; the model needs about " +
                       vggt_lab::format_bytes(total_memory(problem)) +
                       " (parameters, gradients, optimizer state, activations and transfer buffers)";
    if (largest) {
      text += "; the largest unit, '" + largest->name + "', alone needs " +
              vggt_lab::format_bytes(unit_memory(*largest, problem.real.memory));
    }
    return text + ". Add devices, raise [devices] memory, turn on activation checkpointing, or "
                  "shrink the batch or frames.";
  }
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "balanced-memory";
  info.version = "1.3";
  info.summary = "Minimise the largest predicted per-device memory; trunk contiguous, heads whole";
  info.doc =
      "Splits the trunk (patch embedder and aggregator blocks) into contiguous, ordered\n"
      "segments, one per device, and places each head whole, so that the largest predicted\n"
      "per-device memory (parameters, gradients, optimizer state, saved activations,\n"
      "workspace and receive buffers) is as small as it can be under each device's capacity:\n"
      "a binary search over the peak bound, then local moves. `splits` fixes the trunk's cuts.\n"
      "With frame_shards = g it places onto groups of g devices (group k: devices kg..kg+g-1),\n"
      "each stage sharding each scene's frames over its group.\n"
      "When nothing fits it says how much is needed and which unit is largest.";
  info.schema.integer_list("splits", {},
                           "Trunk positions (embed = 0, block.0 = 1, ...) where the segments on devices 1, 2, ... "
                           "begin, instead of searching; a sweep's split-point search writes these",
                           1.0)
      .with_check(vggt_lab::strictly_increasing())
      .integer("frame_shards", 1, "Devices each stage shards each scene's frames over (the search places onto groups of "
               "this many devices)", 1.0);
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& o, const vggt_lab::PluginContext&) {
        return std::make_unique<BalancedMemory>(o.get<std::vector<std::int64_t>>("splits"),
                                                int(o.get<std::int64_t>("frame_shards")));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "balanced-memory", "1.3", register_plugins)
