#pragma once
// A sweep's trials as data: the settings a trial applies on top of the base
// experiment, and what planning and measuring it found, as results.json
// keeps them.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vggt_lab/export.hpp"

namespace vggt_lab::sweep {

/// [table] key = value, the value as TOML text (typed by the table's schema,
/// as `--set` types it).
struct Setting {
  std::string table, key, value;
  /// "table.key=value", as `--set` takes it.
  std::string text() const { return table + "." + key + "=" + value; }
  bool operator==(const Setting& other) const {
    return table == other.table && key == other.key && value == other.value;
  }
};

using Trial = std::vector<Setting>;

/// A stable id from the settings: the trial's folder and its key when a sweep resumes.
VGGT_LAB_API std::string trial_id(const Trial& trial);
/// The settings joined by `separator`.
VGGT_LAB_API std::string settings_text(const Trial& trial, const std::string& separator = " ");

struct Prediction {
  std::string strategy;
  std::int64_t frames = 0;
  double peak_bytes = 0, step_seconds = 0, throughput = 0;  // throughput: images per second
  std::vector<double> device_peaks, device_bubbles;
};

struct Measurement {
  std::filesystem::path run_dir;
  double step_seconds = 0, throughput = 0, peak_bytes = 0, bytes_moved = 0;
  std::vector<double> device_peaks;
};

/// Where a trial found by the split search came from.
struct SearchOrigin {
  std::string from;  // the grid trial's id
  std::vector<std::int64_t> start, best;
  double start_score = 0, best_score = 0;
  int evaluated = 0;
};

struct TrialResult {
  std::string id;
  Trial settings;
  std::string status;  // planned | pending | done | failed | skipped
  std::string reason;  // why it failed or was skipped
  bool fits = false;
  std::vector<std::string> problems;  // why the plan does not fit
  Prediction predicted;
  std::optional<Measurement> measured;
  std::optional<SearchOrigin> search;

  /// Measured figures where there are some, else predicted.
  double peak_bytes() const { return measured ? measured->peak_bytes : predicted.peak_bytes; }
  double step_seconds() const { return measured ? measured->step_seconds : predicted.step_seconds; }
  double throughput() const { return measured ? measured->throughput : predicted.throughput; }
  /// The figure trials rank by under `objective` (throughput | frames);
  /// -1 for a trial that does not fit or did not finish.
  double score(const std::string& objective) const;
};

VGGT_LAB_API void to_json(nlohmann::json& out, const TrialResult& result);
VGGT_LAB_API void from_json(const nlohmann::json& in, TrialResult& result);

}  // namespace vggt_lab::sweep
