#pragma once
// What a sweep leaves in its folder, one function a file.
#include <filesystem>
#include <vector>

#include "sweep/sweep.hpp"

namespace vggt_lab::sweep {

/// Trial indices, best first by the sweep's objective (ties keep grid order).
std::vector<std::size_t> ranking(const std::vector<TrialResult>& trials, const std::string& objective);

/// results.json: the sweep, its trials and the rank correlation.
void write_results_json(const Results& results, const std::filesystem::path& file);
/// Reads an earlier run's results.json (to resume).
Results read_results_json(const std::filesystem::path& file);
/// results.csv: one ranked row a trial.
void write_csv(const Results& results, const std::vector<std::size_t>& order, const std::filesystem::path& file);
/// pareto.svg: throughput against peak memory per device, the Pareto front marked.
void write_pareto(const Results& results, const std::filesystem::path& file);
/// report.md: the ranked table with settings, figures and reasons.
void write_report(const SweepFile& sweep, const Results& results, const std::vector<std::size_t>& order,
                  const std::filesystem::path& file);
/// best.toml: the base experiment with the winner's settings, runnable.
void write_best(const SweepFile& sweep, const TrialResult& winner, const std::filesystem::path& file);

/// The measured trials' run folders side by side in compare/, best first, as
/// `vggt-lab compare` writes them.
void write_trial_comparison(const Results& results, const std::vector<std::size_t>& order,
                            const std::filesystem::path& dir);

/// All of them into `dir` (best.toml when some trial fits).
void write_outputs(const SweepFile& sweep, const Results& results, const std::filesystem::path& dir);

}  // namespace vggt_lab::sweep
