#pragma once
// Runs side by side: one table (layout, devices, throughput, peak per device,
// final loss, eval metrics) and overlaid loss, throughput and memory plots,
// read from run folders. `vggt-lab compare` and a measuring sweep's report
// use it.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab::report {

struct RunRecord {
  std::string name;       // the run folder's name
  std::string strategy;   // from plan.json
  int devices = 0;
  double throughput = 0;  // scenes per second over the run (summary.json)
  double final_loss = 0;  // the last step's
  std::vector<double> peaks;  // largest measured per device, bytes
  std::map<std::string, double> eval;
  std::vector<double> steps, losses, step_throughput;  // per step
};

/// Reads a finished run folder. Throws InputError naming a file that is
/// missing (a run still going, or not a run folder).
VGGT_LAB_API RunRecord read_run(const std::filesystem::path& dir);

/// The comparison table, in Markdown.
VGGT_LAB_API std::string comparison_table(const std::vector<RunRecord>& runs);

/// compare.md (the table and the plots), loss.svg, throughput.svg and
/// memory.svg in `out`.
VGGT_LAB_API void write_comparison(const std::vector<RunRecord>& runs, const std::filesystem::path& out);

}  // namespace vggt_lab::report
