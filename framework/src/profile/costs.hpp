#pragma once
// Where a plan's unit costs come from, as [costs] says: the model's analytic
// estimates, a profile measured on this machine (cached per configuration),
// or the estimates calibrated by a profile file; "auto" measures when the
// command trains on the devices it plans for.
#include <optional>

#include "host/config.hpp"
#include "profile/profiler.hpp"

namespace vggt_lab::distributed {
class DataParallel;
}

namespace vggt_lab::profile {

struct ProfileRequest {
  const ResolvedConfig* config = nullptr;
  const Registry* registry = nullptr;
  PluginContext context;
  Topology topology;  // the profile runs on the first logical device's physical device
  MemoryModel memory;
  bool use_cache = true;
  std::int64_t batch = 0;   // profile at this batch size (0: the step's)
  std::int64_t frames = 0;  // and this many frames per scene (0: the step's)
  bool trains = false;     // the command trains on the planned devices: source "auto" measures
  /// Under data parallelism every rank plans with rank 0's profile, so all
  /// ranks run one plan; null in one process.
  distributed::DataParallel* data_parallel = nullptr;
};

/// The text a cached profile is keyed by: model plugin and options, step
/// shape, device, memory settings, precision, threads and versions.
VGGT_LAB_API std::string profile_key(const ProfileRequest& request);

/// The experiment's model profiled at its step shape with its losses; read
/// from the cache when present and its key matches, written there otherwise.
VGGT_LAB_API Profile profile_experiment(const ProfileRequest& request);

/// The cache file of the request's profile.
VGGT_LAB_API std::filesystem::path profile_file(const ProfileRequest& request);

struct CostedGraph {
  ModelGraph graph;
  std::string source;  // analytic, measured or calibrated ("auto" resolved)
  std::string text;    // what the plan and the report say the costs came from
};

/// The graph plan_from_config places, with costs from [costs] source. "auto"
/// is measured when the request trains and the largest unit can be profiled
/// on the first logical device's physical device, else analytic.
VGGT_LAB_API CostedGraph costed_graph(const ProfileRequest& request, const PluginObject<Model>& model,
                                      const InputShape& shape);

/// With measured costs, `graph` with its unit times as a plan that splits the
/// step into `micro_batches` runs them: measured at the micro-batch's size,
/// times the count. A unit's time is far from linear in the batch on a CPU,
/// where memory traffic grows faster than the work. Nothing when the times
/// stay as they are (other cost sources, or no smaller micro-batch), so
/// callers re-plan only when they changed.
VGGT_LAB_API std::optional<ModelGraph> timed_for_micro_batches(const ProfileRequest& request,
                                                               const CostedGraph& costed, int micro_batches);

/// With measured costs, `graph` with the memory of each frame-local unit of
/// a frame-sharded stage as measured at the frames one of its devices works
/// on (a profile at that frame count, cached): a DPT head's workspace is not
/// linear in its frames. Nothing when no such unit exists.
VGGT_LAB_API std::optional<ModelGraph> measured_at_shards(const ProfileRequest& request, const CostedGraph& costed,
                                                          const ModelGraph& graph, const Plan& plan);

}  // namespace vggt_lab::profile
