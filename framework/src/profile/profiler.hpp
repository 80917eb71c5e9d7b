#pragma once
// The profiler: each unit of the graph run alone on the real device at the
// real shapes (torchgpipe's balance_by_time / balance_by_size, over the
// DAG). Per unit it measures forward and backward time, the memory kept from
// the end of forward until backward, and the transient peak above that.
// Profiles are cached per configuration; a profile also calibrates the
// model's analytic costs, per kind of unit, for shapes and sizes that are
// planned without allocating anything (the 1B model).
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/executor.hpp"
#include "vggt_lab/memory.hpp"

namespace vggt_lab::profile {

struct UnitProfile {
  std::string unit;
  double forward_seconds = 0, backward_seconds = 0;  // the fastest of the repeats
  std::int64_t kept_bytes = 0;       // held from the end of forward until backward (outputs included)
  std::int64_t workspace_bytes = 0;  // peak above `kept_bytes` during its forward or backward
  UnitCost analytic;                 // the model's estimate at the same shape, for calibration
};

struct Profile {
  std::string key;     // the configuration it was measured for
  std::string device;  // "cpu", "cuda:0"
  InputShape shape;
  MemoryModel memory;  // checkpointing and fused attention it ran with
  std::vector<UnitProfile> units;
};

struct ProfileOptions {
  torch::Device device = torch::kCPU;
  int repeat = 3;  // timed runs per unit, after one warm-up
  std::optional<torch::ScalarType> autocast;  // bf16 or fp16 compute, as the run's precision
  int workers = 1;  // logical devices sharing a CPU: units run with one worker's share of its cores
  std::function<void(std::size_t measured, std::size_t units)> progress;  // after each unit, when set
};

/// Runs every unit alone, in graph order, on inputs from one forward pass of
/// `batch`; heads run with their loss. The model moves to `options.device`.
VGGT_LAB_API Profile measure(ModelInstance& model, const ModelGraph& graph, const TensorMap& batch,
                             const runtime::LossFn& loss, const MemoryModel& memory, const ProfileOptions& options);

VGGT_LAB_API nlohmann::json to_json(const Profile& profile);
/// Throws InputError naming `where` when the JSON is not a profile.
VGGT_LAB_API Profile profile_from_json(const nlohmann::json& json, const std::string& where);
VGGT_LAB_API Profile read_profile(const std::filesystem::path& file);
/// Written atomically (temporary file, then rename).
VGGT_LAB_API void write_profile(const Profile& profile, const std::filesystem::path& file);

/// The graph with the profile's measured costs in place of the estimates:
/// kept memory, workspace and times are the measured ones at this shape.
VGGT_LAB_API ModelGraph with_measured_costs(ModelGraph graph, const Profile& profile);

/// "block.3" -> "block": units of one kind share calibration factors.
VGGT_LAB_API std::string unit_kind(const std::string& unit);

/// Measured over analytic, per kind of unit.
struct Factors {
  double kept = 1.0;       // kept memory / analytic kept memory
  double workspace = 0.0;  // workspace / analytic activations (before checkpointing)
  double forward_seconds_per_flop = 0.0;
  double backward_over_forward = 2.0;
};
struct Calibration {
  std::string device;          // where it was measured: times apply to that kind of device only
  Checkpointing checkpointing;  // units measured with recomputation (then their workspace holds it)
  std::map<std::string, Factors> kinds;
};

VGGT_LAB_API Calibration calibrate(const Profile& profile);
/// Analytic costs scaled by the factors of each unit's kind; times only when
/// `device` is of the calibration's device type. Kinds it lacks stay analytic.
VGGT_LAB_API ModelGraph calibrated(ModelGraph graph, const Calibration& calibration, const std::string& device,
                                   const MemoryModel& memory);

/// Where cached profiles live: $XDG_CACHE_HOME/vggt-lab/profiles, else
/// ~/.cache/vggt-lab/profiles.
VGGT_LAB_API std::filesystem::path default_cache();
/// The cache file of a configuration key.
VGGT_LAB_API std::filesystem::path cache_file(const std::filesystem::path& cache, const std::string& key);

}  // namespace vggt_lab::profile
