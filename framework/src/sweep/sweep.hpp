#pragma once
// Layout sweeps: a grid over experiment settings (placement plugins and
// options, device counts and capacities, micro-batches, frames, precision,
// checkpointing...), each trial planned by the cost model or measured by
// training a few steps in its own process, ranked, and reported.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiment/experiment.hpp"
#include "sweep/trial.hpp"

namespace vggt_lab::sweep {

/// One [axes] entry: "table.key" = [values...], each value as TOML text.
struct Axis {
  std::string table, key;
  std::vector<std::string> values;
  std::vector<std::string> where;  // each value's file:line:col
};

/// A sweep file; [sweep]'s values as sweep_schema() validated and defaulted them.
struct SweepFile {
  std::filesystem::path file, base;  // the sweep file, the base experiment
  std::string mode;                  // plan | measure
  std::string objective;             // throughput | frames
  std::int64_t memory_cap = 0;       // 0: the devices' capacities
  std::int64_t steps = 0;            // measure mode: training steps per trial
  double timeout_s = 0;
  std::string search;                // none | beam: split points beyond the grid
  std::int64_t beam_width = 0;
  std::vector<Axis> axes;
  std::vector<Trial> exclude;  // a trial holding every setting of one entry is dropped
};

/// [sweep]'s keys: types, defaults, bounds and docs.
VGGT_LAB_API const OptionSchema& sweep_schema();

/// Reads the sweep file; errors read file:line:col as for experiments.
VGGT_LAB_API SweepFile read_sweep(const std::filesystem::path& file);

/// Every combination of the axes (grid order), less the excluded.
VGGT_LAB_API std::vector<Trial> grid(const SweepFile& sweep);

/// How `vggt-lab sweep` was asked to run.
struct Settings {
  std::string mode;  // overrides the file's when not empty
  int jobs = 1;
  std::filesystem::path out;
  std::filesystem::path executable;  // vggt-lab, for measure-mode children
  std::vector<std::filesystem::path> plugin_paths;
  bool progress_bar = false;
};

/// results.json.
struct Results {
  std::filesystem::path sweep, base;
  std::string mode;
  std::size_t merged_trials = 0;  // grid trials identical to another once run
  std::vector<TrialResult> trials;
  std::optional<double> rank_correlation;  // of predicted and measured throughput
  int interrupted = 0;  // the SIGINT or SIGTERM that stopped it after the trials running then
  std::string conditions;  // a checksum of what results depend on besides settings (base, memory_cap, steps)
};

/// Runs (or resumes) the sweep with the session's plugins and logger.
VGGT_LAB_API Results run(const SweepFile& sweep, const Settings& settings, const Session& session);

/// Spearman rank correlation of two equally long lists.
VGGT_LAB_API double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace vggt_lab::sweep
