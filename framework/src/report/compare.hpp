#pragma once
// Runs side by side: one table (layout, devices, steps, state, throughput,
// peak per device, final loss, eval metrics) and overlaid loss, throughput
// and memory plots, read from run folders. `vggt-lab compare` and a measuring sweep's report
// use it.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab::report {

struct RunRecord {
  std::string name;       // the run folder's name
  std::string strategy;   // from plan.json
  int devices = 0;
  std::string state;      // "finished", why it stopped early, or that it has no summary yet
  double throughput = 0;  // scenes per second over the steps after the first (metrics.jsonl)
  std::optional<double> final_loss;  // the last step's; empty when it was not finite
  std::vector<double> peaks;  // largest measured per device, bytes
  std::map<std::string, double> eval;
  std::vector<double> steps, step_throughput;  // per step
  std::vector<double> loss_steps, losses;      // per step with a finite loss
};

/// Reads a run folder: a finished one, one stopped early, or one still going
/// (or killed) that has no summary.json yet. Throws InputError naming a file
/// that is missing (not a run folder).
VGGT_LAB_API RunRecord read_run(const std::filesystem::path& dir);

/// The comparison table, in Markdown.
VGGT_LAB_API std::string comparison_table(const std::vector<RunRecord>& runs);

/// compare.md (the table and the plots), loss.svg, throughput.svg and
/// memory.svg in `out`. Refuses a run folder as `out` (its own plots have
/// those names).
VGGT_LAB_API void write_comparison(const std::vector<RunRecord>& runs, const std::filesystem::path& out);

}  // namespace vggt_lab::report
