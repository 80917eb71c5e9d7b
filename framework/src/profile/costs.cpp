#include "profile/costs.hpp"

#include <spdlog/spdlog.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "distributed/data_parallel.hpp"
#include "plan/planning.hpp"
#include "train/loader.hpp"
#include "train/losses.hpp"
#include "train/trainer.hpp"
#include "vggt_lab/data.hpp"
#include "vggt_lab/version.hpp"

namespace vggt_lab::profile {
namespace {

std::string options_text(const Options& options) {
  std::string text;
  for (const auto& [key, value] : options.values()) text += key + "=" + format_value(value) + ";";
  return text;
}

/// The step shape, or its micro-batch when the request names a batch size.
InputShape profiled_shape(const ProfileRequest& r) {
  InputShape shape = step_shape(r.config->core("train"));
  if (r.batch > 0) shape.batch = r.batch;
  if (r.frames > 0) shape.frames = r.frames;
  return shape;
}

/// One batch of exactly the profiled shape, from the experiment's data.
TensorMap planned_batch(const ProfileRequest& r) {
  auto source = create_plugin<DataSource>(*r.config, "data", *r.registry, r.context);
  train::LoaderOptions options = train::planned_loader_options(r.config->core("train"));
  const InputShape shape = profiled_shape(r);
  options.min_frames = options.max_frames = shape.frames;
  options.images_per_step = shape.batch * shape.frames;
  return train::make_batch(*source.object, options, 0);
}

std::filesystem::path cache_dir(const ProfileRequest& r) {
  const std::string dir = r.config->core("costs").get<std::string>("cache");  // absolute: a path option
  return dir.empty() ? default_cache() : std::filesystem::path(dir);
}

/// Logical devices on the physical device the profile runs on.
int sharing_first_device(const Topology& topology) {
  return int(std::count_if(topology.devices.begin(), topology.devices.end(),
                           [&](const LogicalDevice& d) { return d.physical == topology.devices.at(0).physical; }));
}

/// Intra-op threads each unit is profiled with: a CPU worker's share, as the
/// runtime gives it; elsewhere LibTorch's own.
int profile_threads(const ProfileRequest& r) {
  if (r.topology.devices.at(0).physical != "cpu") return at::get_num_threads();
  return worker_threads(process_cores(), sharing_first_device(r.topology));
}

Profile measure_experiment(const ProfileRequest& r) {
  const Options& train = r.config->core("train");
  auto model = create_plugin<Model>(*r.config, "model", *r.registry, r.context);
  const InputShape shape = profiled_shape(r);
  ModelGraph graph = model.call([&](Model& m) { return m.graph(shape, r.memory.checkpointing); });
  TensorMap batch = planned_batch(r);
  torch::manual_seed(0);
  auto instance = train::build_model(model, train);
  const train::LossOptions weights = train::loss_options(train);
  runtime::LossFn loss = [&](const TensorMap& p, const TensorMap& b, FrameGroup*) { return train::vggt_losses(p, b, weights); };
  ProfileOptions options;
  options.device = torch::Device(r.topology.devices.at(0).physical);
  options.repeat = int(r.config->core("costs").get<std::int64_t>("repeat"));
  options.autocast = train::autocast_of(train.get<std::string>("precision"));
  options.workers = sharing_first_device(r.topology);
  auto& log = r.context.logger ? *r.context.logger : *spdlog::default_logger();
  const auto start = std::chrono::steady_clock::now();
  auto said = start;
  options.progress = [&](std::size_t measured, std::size_t units) {  // a line every 10 s or so
    const auto now = std::chrono::steady_clock::now();
    if (measured == units || now - said < std::chrono::seconds(10)) return;
    said = now;
    log.info("profiled {} of {} units, {:.0f} s", measured, units, std::chrono::duration<double>(now - start).count());
  };
  return measure(*instance, graph, batch, loss, r.memory, options);
}

}  // namespace

std::string profile_key(const ProfileRequest& r) {
  const Options& train = r.config->core("train");
  const InputShape s = profiled_shape(r);
  return "model=" + r.config->plugin("model").value_or("") + "{" + options_text(r.config->plugin_options("model")) +
         "} shape=" + std::to_string(s.batch) + "x" + std::to_string(s.frames) + "x" + std::to_string(s.height) + "x" +
         std::to_string(s.width) + "q" + std::to_string(s.queries) + " device=" + r.topology.devices.at(0).physical +
         " checkpointing=" + checkpointing_text(r.memory.checkpointing) +
         " fused_attention=" + std::to_string(r.memory.fused_attention) + " precision=" +
         train.get<std::string>("precision") + " threads=" +
         std::to_string(profile_threads(r)) + " torch=" + TORCH_VERSION + " vggt-lab=" + VGGT_LAB_VERSION_STRING;
}

std::filesystem::path profile_file(const ProfileRequest& r) { return cache_file(cache_dir(r), profile_key(r)); }

namespace {

/// The cached profile, else measured and cached.
Profile cached_or_measured(const ProfileRequest& r) {
  const std::string key = profile_key(r);
  const std::filesystem::path file = profile_file(r);
  auto& log = r.context.logger ? *r.context.logger : *spdlog::default_logger();
  if (r.use_cache && std::filesystem::exists(file)) {
    try {
      Profile cached = read_profile(file);
      if (cached.key == key) {
        log.info("unit costs: cached profile {}", file.string());
        return cached;
      }
    } catch (const Error& e) {
      log.warn("ignoring the cached profile: {}", e.what());
    }
  }
  log.info("profiling every unit on {} at batch {} (cached in {})", r.topology.devices.at(0).physical,
           profiled_shape(r).batch, file.string());
  Profile profile = measure_experiment(r);
  profile.key = key;
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  try {
    write_profile(profile, file);
  } catch (const std::exception& e) {
    log.warn("could not cache the profile in {}: {}", file.string(), e.what());
  }
  return profile;
}

/// Why "auto" cannot measure: the profiler holds every parameter and unit
/// output, and one unit's activations at the full step, on one device.
std::optional<std::string> unprofilable(const ProfileRequest& r, const ModelGraph& graph) {
  const std::string& physical = r.topology.devices.at(0).physical;
  const std::int64_t available = physical_memory(physical);
  std::int64_t held = 0;
  for (const Unit& u : graph.units) held += u.cost.param_bytes;
  for (const Edge& e : graph.edges) held += e.bytes;
  const Unit* largest = nullptr;
  for (const Unit& u : graph.units) {
    if (!largest || unit_memory(u, r.memory) > unit_memory(*largest, r.memory)) largest = &u;
  }
  if (!largest || available <= 0) return std::nullopt;
  const std::int64_t needed = held + unit_memory(*largest, r.memory);
  if (needed <= available) return std::nullopt;
  return "profiling " + largest->name + " at the full step needs about " + format_bytes(needed) + " on " + physical +
         ", which has " + format_bytes(available);
}

/// The estimates calibrated by the profile [costs] calibration names.
ModelGraph calibrated_graph(const ProfileRequest& r, ModelGraph graph) {
  const std::string file = r.config->core("costs").get<std::string>("calibration");
  if (file.empty()) {
    throw InputError(r.config->file.string() +
                     ": [costs] source = \"calibrated\" needs calibration = \"FILE.json\", a profile written by "
                     "`vggt-lab profile EXPERIMENT.toml --out FILE.json`");
  }
  Profile profile;
  try {
    profile = read_profile(file);  // absolute: a path option
  } catch (const InputError& e) {
    throw InputError(r.config->file.string() + ": [costs] calibration = \"" + file + "\": " + e.what());
  }
  return calibrated(std::move(graph), calibrate(profile), r.topology.devices.at(0).physical, r.memory);
}

}  // namespace

Profile profile_experiment(const ProfileRequest& r) {
  if (!r.data_parallel) return cached_or_measured(r);
  // Named by the call, not the key: ranks on unlike hosts may key differently.
  const InputShape shape = profiled_shape(r);
  const std::string name = "profile at " + std::to_string(shape.batch) + "x" + std::to_string(shape.frames);
  if (r.data_parallel->world().rank != 0) {
    return profile_from_json(nlohmann::json::parse(r.data_parallel->share(name, "")), "rank 0's profile");
  }
  Profile profile = cached_or_measured(r);
  r.data_parallel->share(name, to_json(profile).dump());
  return profile;
}

CostedGraph costed_graph(const ProfileRequest& r, const PluginObject<Model>& model, const InputShape& shape) {
  CostedGraph out{model.call([&](Model& m) { return m.graph(shape, r.memory.checkpointing); }),
                  r.config->core("costs").get<std::string>("source"), kAnalyticCosts};
  if (out.source == "auto") {
    auto why_not = r.trains ? unprofilable(r, out.graph) : std::nullopt;
    out.source = r.trains && !why_not ? "measured" : "analytic";
    if (why_not) out.text += "; not measured: " + *why_not;
  }
  if (out.source == "measured") {
    out.graph = with_measured_costs(std::move(out.graph), profile_experiment(r));
    out.text = "measured (profile " + profile_file(r).string() + ")";
  } else if (out.source == "calibrated") {
    out.graph = calibrated_graph(r, std::move(out.graph));
    out.text = "calibrated (by " + r.config->core("costs").get<std::string>("calibration") + ")";
  }
  return out;
}

std::optional<ModelGraph> timed_for_micro_batches(const ProfileRequest& r, const CostedGraph& costed,
                                                  int micro_batches) {
  const std::int64_t batch = step_shape(r.config->core("train")).batch;
  const std::int64_t micro = (batch + micro_batches - 1) / std::max(1, micro_batches);
  if (micro >= batch || costed.source != "measured") return std::nullopt;
  ProfileRequest at_micro = r;
  at_micro.batch = micro;
  std::map<std::string, UnitProfile> measured;
  for (UnitProfile& u : profile_experiment(at_micro).units) measured[u.unit] = std::move(u);
  ModelGraph timed = costed.graph;
  for (Unit& unit : timed.units) {
    auto it = measured.find(unit.name);
    if (it == measured.end()) throw Error("the micro-batch profile has no unit '" + unit.name + "'");
    unit.cost.forward_seconds = it->second.forward_seconds * micro_batches;
    unit.cost.backward_seconds = it->second.backward_seconds * micro_batches;
  }
  return timed;
}

std::optional<ModelGraph> measured_at_shards(const ProfileRequest& r, const CostedGraph& costed,
                                             const ModelGraph& graph, const Plan& plan) {
  if (costed.source != "measured") return std::nullopt;
  const std::int64_t frames = step_shape(r.config->core("train")).frames;
  const std::map<std::string, int> stage_of = unit_stages(plan);
  std::map<std::int64_t, std::vector<std::string>> local_units;  // by the frames a device of their stage works on
  for (const Unit& unit : graph.units) {
    auto stage = stage_of.find(unit.name);
    if (unit.split != FrameSplit::local || stage == stage_of.end()) continue;
    const int group = int(plan.stages[stage->second].frame_group.size()) + 1;
    const std::int64_t shard = frame_shards(frames, group).front();  // the largest
    if (shard < frames) local_units[shard].push_back(unit.name);
  }
  if (local_units.empty()) return std::nullopt;
  ModelGraph out = graph;
  for (const auto& [shard, names] : local_units) {
    ProfileRequest at_shard = r;
    at_shard.frames = shard;
    std::map<std::string, UnitProfile> measured;
    for (UnitProfile& u : profile_experiment(at_shard).units) measured[u.unit] = std::move(u);
    const double scale = double(frames) / double(shard);  // the costs are for all frames
    for (const std::string& name : names) {
      UnitCost& cost = out.units[out.index_of(name)].cost;
      const UnitProfile& m = measured.at(name);
      cost.activation_bytes = cost.checkpoint_bytes = std::llround(double(m.kept_bytes) * scale);
      cost.workspace_bytes = std::llround(double(m.workspace_bytes) * scale);
    }
  }
  return out;
}

}  // namespace vggt_lab::profile
