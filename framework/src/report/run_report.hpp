#pragma once
// The run folder's human-facing results: summary.json, report.md and plots
// (loss curves, per-device memory against capacity, one step's timeline),
// built from what training wrote (metrics.jsonl, plan.json, timeline.json).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/trainer.hpp"

namespace vggt_lab::report {

/// The lines of a JSON-lines file (metrics.jsonl); none when it is missing.
VGGT_LAB_API std::vector<nlohmann::json> read_lines(const std::filesystem::path& file);
/// A JSON file (plan.json, summary.json); null when it is missing.
VGGT_LAB_API nlohmann::json read_json(const std::filesystem::path& file);

/// Writes summary.json, report.md, loss.svg, memory.svg and timeline.svg.
VGGT_LAB_API void write_run_report(const std::filesystem::path& run_dir, const std::string& experiment,
                                   const std::string& description, const train::TrainSummary& summary);

}  // namespace vggt_lab::report
