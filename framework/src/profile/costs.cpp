#include "profile/costs.hpp"

#include <spdlog/spdlog.h>
#include <torch/version.h>

#include <algorithm>
#include <map>

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
  return shape;
}

/// One batch of exactly the profiled shape, from the experiment's data.
TensorMap planned_batch(const ProfileRequest& r) {
  auto source = create_plugin<DataSource>(*r.config, "data", *r.registry, r.context);
  train::LoaderOptions options = train::planned_loader_options(r.config->core("train"));
  const InputShape shape = profiled_shape(r);
  options.images_per_step = shape.batch * shape.frames;
  return train::make_batch(*source.object, options, 0);
}

std::filesystem::path cache_dir(const ProfileRequest& r) {
  const std::string dir = r.config->core("costs").get<std::string>("cache");
  if (dir.empty()) return default_cache();
  std::filesystem::path path = dir;
  return path.is_absolute() ? path : std::filesystem::path(r.context.config_dir) / path;
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

Profile profile_experiment(const ProfileRequest& r) {
  const std::string key = profile_key(r);
  const std::filesystem::path file = cache_file(cache_dir(r), key);
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

ModelGraph costed_graph(const ProfileRequest& r, const PluginObject<Model>& model, const InputShape& shape) {
  ModelGraph graph = model.call([&](Model& m) { return m.graph(shape, r.memory.checkpointing); });
  const Options& costs = r.config->core("costs");
  const std::string source = costs.get<std::string>("source");
  if (source == "measured") return with_measured_costs(std::move(graph), profile_experiment(r));
  if (source != "calibrated") return graph;
  const std::string file = costs.get<std::string>("calibration");
  if (file.empty()) {
    throw InputError(r.config->file.string() +
                     ": [costs] source = \"calibrated\" needs calibration = \"FILE.json\", a profile written by "
                     "`vggt-lab profile EXPERIMENT.toml --out FILE.json`");
  }
  std::filesystem::path path = file;
  if (path.is_relative()) path = std::filesystem::path(r.context.config_dir) / path;
  Profile profile;
  try {
    profile = read_profile(path);
  } catch (const InputError& e) {
    throw InputError(r.config->file.string() + ": [costs] calibration = \"" + file + "\" (relative to the experiment's "
                     "folder): " + e.what());
  }
  return calibrated(std::move(graph), calibrate(profile), r.topology.devices.at(0).physical, r.memory);
}

std::optional<ModelGraph> timed_for_micro_batches(const ProfileRequest& r, const ModelGraph& graph,
                                                  int micro_batches) {
  const std::int64_t batch = step_shape(r.config->core("train")).batch;
  const std::int64_t micro = (batch + micro_batches - 1) / std::max(1, micro_batches);
  if (micro >= batch || r.config->core("costs").get<std::string>("source") != "measured") return std::nullopt;
  ProfileRequest at_micro = r;
  at_micro.batch = micro;
  std::map<std::string, UnitProfile> measured;
  for (UnitProfile& u : profile_experiment(at_micro).units) measured[u.unit] = std::move(u);
  ModelGraph timed = graph;
  for (Unit& unit : timed.units) {
    auto it = measured.find(unit.name);
    if (it == measured.end()) throw Error("the micro-batch profile has no unit '" + unit.name + "'");
    unit.cost.forward_seconds = it->second.forward_seconds * micro_batches;
    unit.cost.backward_seconds = it->second.backward_seconds * micro_batches;
  }
  return timed;
}

}  // namespace vggt_lab::profile
