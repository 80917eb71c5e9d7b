#include "sweep/split_search.hpp"

#include <algorithm>
#include <limits>
#include <map>

#include "experiment/experiment.hpp"
#include "profile/costs.hpp"

namespace vggt_lab::sweep {
namespace {

constexpr double kInfeasible = -std::numeric_limits<double>::infinity();

/// What one trial's candidates share: the graph with its costs, the
/// topology, the memory model and the placement plugin's other options.
struct Problem {
  const ResolvedConfig& config;
  const PluginHost& host;
  std::string placement;
  PluginContext context;
  Topology topology;
  MemoryModel memory;
  InputShape shape;
  ModelGraph graph;
  std::string objective;
};

/// The plan for these splits (empty: the strategy's own choice).
std::optional<PlanReport> plan_with(const Problem& p, const std::vector<std::int64_t>& splits) {
  Options options = p.config.plugin_options("placement");
  if (!splits.empty()) options.set("splits", splits);
  try {
    auto placement = p.host.registry().create<Placement>(p.placement, options, p.context);
    return make_plan(p.graph, placement, p.topology, p.shape, p.memory);
  } catch (const InputError&) {  // splits out of range, or nothing fits
    return std::nullopt;
  }
}

double score(const Problem& p, const std::optional<PlanReport>& report) {
  if (!report || !report->fits() || report->timeline.makespan <= 0) return kInfeasible;
  if (p.objective == "frames") {
    std::int64_t peak = 0;
    for (const auto& d : report->predicted) peak = std::max(peak, d.total());
    return -double(peak);
  }
  return double(p.shape.batch * p.shape.frames) / report->timeline.makespan;
}

struct Candidate {
  std::vector<std::int64_t> splits;
  double score = kInfeasible;
};

/// Every candidate one move away: one split point shifted by 1..max_step,
/// keeping them strictly increasing (the plugin rejects the out-of-range).
std::vector<std::vector<std::int64_t>> moves(const std::vector<std::int64_t>& splits, int max_step) {
  std::vector<std::vector<std::int64_t>> out;
  for (std::size_t i = 0; i < splits.size(); ++i) {
    for (int step = -max_step; step <= max_step; ++step) {
      if (step == 0) continue;
      auto next = splits;
      next[i] += step;
      const bool ordered = next[i] >= 1 && (i == 0 || next[i] > next[i - 1]) &&
                           (i + 1 == next.size() || next[i] < next[i + 1]);
      if (ordered) out.push_back(std::move(next));
    }
  }
  return out;
}

}  // namespace

std::string list_text(const std::vector<std::int64_t>& values) {
  std::string text = "[";
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

std::optional<SplitResult> search_splits(const ResolvedConfig& config, const PluginHost& host,
                                         const SplitSearch& options) {
  auto name = config.plugin("placement");
  if (!name) return std::nullopt;
  const auto* plugin = host.registry().find(Kind::placement, *name);
  if (!plugin || !plugin->info.schema.find("splits")) return std::nullopt;
  const PluginContext context = host.context(config.file.parent_path());
  PlanInputs in = plan_inputs(config, host.registry(), context);
  profile::ProfileRequest request{&config, &host.registry(), context, in.topology, in.memory};
  profile::CostedGraph costed = profile::costed_graph(request, in.model, in.shape);
  Problem p{config, host, *name, context, in.topology, in.memory, in.shape, costed.graph, options.objective};

  const auto given = config.plugin_options("placement").get<std::vector<std::int64_t>>("splits");
  auto own = plan_with(p, given);
  if (own) {
    if (auto timed = profile::timed_for_micro_batches(request, costed, own->plan.micro_batches)) {
      p.graph = std::move(*timed);
      own = plan_with(p, given);
    }
  }
  if (!own || own->plan.splits.empty() || score(p, own) == kInfeasible) return std::nullopt;
  SplitResult result;
  result.start = result.best = own->plan.splits;
  result.start_score = result.best_score = score(p, own);
  std::map<std::vector<std::int64_t>, double> seen{{result.start, result.start_score}};
  std::vector<Candidate> beam{{result.start, result.start_score}};
  for (int round = 0; round < options.max_rounds; ++round) {
    std::vector<Candidate> next;
    for (const Candidate& c : beam) {
      for (auto& splits : moves(c.splits, options.max_step)) {
        if (seen.count(splits)) continue;
        const double s = score(p, plan_with(p, splits));
        ++result.evaluated;
        seen[splits] = s;
        if (s != kInfeasible) next.push_back({std::move(splits), s});
      }
    }
    std::sort(next.begin(), next.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    if (next.empty() || next.front().score <= result.best_score) break;
    result.best = next.front().splits;
    result.best_score = next.front().score;
    next.resize(std::min<std::size_t>(next.size(), std::size_t(std::max(1, options.beam_width))));
    beam = std::move(next);
  }
  return result;
}

}  // namespace vggt_lab::sweep
