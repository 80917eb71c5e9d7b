#pragma once
// Layout sweeps: a grid over experiment settings (placement plugins and
// options, device counts and capacities, micro-batches, frames, precision,
// checkpointing...), each trial planned by the cost model or measured by
// training a few steps in its own process, ranked, and reported.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/plugin_host.hpp"

namespace vggt_lab::sweep {

struct SweepFile {
  std::filesystem::path file, base;  // the sweep file, the base experiment
  std::string mode = "plan";         // plan | measure
  std::string objective = "throughput";  // throughput | frames
  std::int64_t memory_cap = 0;       // 0: the devices' capacities
  std::int64_t steps = 3;            // measure mode: training steps per trial
  double timeout_s = 600;
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // "table.key" -> TOML values
  std::vector<std::vector<std::string>> exclude;  // a trial holding every assignment of one entry is dropped
  std::string search = "none";  // "beam": search split points beyond the grid (plugins with `splits`)
  std::int64_t beam_width = 4;
};

/// Reads the sweep file; errors read file:line:col as for experiments.
VGGT_LAB_API SweepFile read_sweep(const std::filesystem::path& file);

/// Every combination of the axes as --set assignments (grid order), less the excluded.
VGGT_LAB_API std::vector<std::vector<std::string>> grid(const SweepFile& sweep);

struct Options {
  std::string mode;  // overrides the file's when not empty
  int jobs = 1;
  std::filesystem::path out;
  std::filesystem::path executable;  // vggt-lab, for measure-mode children
  std::vector<std::filesystem::path> plugin_paths;
  bool progress_bar = false;
};

/// Runs (or resumes) the sweep; returns results.json's content.
VGGT_LAB_API nlohmann::json run(const SweepFile& sweep, const Options& options, spdlog::logger& log);

/// Spearman rank correlation of two equally long lists.
VGGT_LAB_API double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace vggt_lab::sweep
