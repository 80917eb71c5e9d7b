#pragma once
// The sweep's search beyond the grid: for a placement plugin with a `splits`
// option (pipeline, balanced-memory), a beam search over its split points,
// each candidate planned by the cost model and scored by the sweep's
// objective. The strategies balance a proxy (FLOPs or memory); the search
// scores the predicted step itself: schedule, bubbles, transfers, heads,
// under the devices' capacities.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "host/config.hpp"
#include "host/plugin_host.hpp"

namespace vggt_lab::sweep {

struct SplitSearch {
  int beam_width = 4;
  int max_step = 2;     // a move shifts one split point by 1..max_step units
  int max_rounds = 64;  // stops earlier when a round finds nothing better
  std::string objective = "throughput";  // throughput: predicted images/s; frames: lowest peak
};

struct SplitResult {
  std::vector<std::int64_t> start, best;  // the strategy's own splits, the best found
  double start_score = 0, best_score = 0;
  int evaluated = 0;  // candidates planned
  /// Better by at least 1 % of the objective: smaller gains are within what
  /// a measurement can tell apart, and not worth a trial.
  bool improved() const { return best != start && best_score - start_score >= 0.01 * std::abs(start_score); }
};

/// Searches the experiment's placement splits; nothing when its plugin has
/// no `splits` option, its own plan does not fit, or it makes one segment.
VGGT_LAB_API std::optional<SplitResult> search_splits(const ResolvedConfig& config, const PluginHost& host,
                                                      const SplitSearch& options);

/// "[3, 15, 22]", as --set takes a list.
VGGT_LAB_API std::string list_text(const std::vector<std::int64_t>& values);

}  // namespace vggt_lab::sweep
