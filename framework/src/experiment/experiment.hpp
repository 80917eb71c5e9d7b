#pragma once
// The one place a run is wired together: make the logger, read the experiment
// with its overrides, load its plugins, validate, create its model and plan
// it. Every subcommand, the benchmarks and the sweeps start here.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "host/config.hpp"
#include "host/log.hpp"
#include "host/plugin_host.hpp"
#include "plan/planning.hpp"

namespace vggt_lab {
namespace distributed {
class DataParallel;
}

/// Options every subcommand takes.
struct GlobalOptions {
  bool verbose = false;
  bool quiet = false;
  std::vector<std::filesystem::path> plugin_paths;
  Verbosity verbosity() const;
};

struct Session {
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<PluginHost> host;
};

/// Logger and plugins, from --plugin-path, the config's folders, the
/// environment and the built-in folder.
VGGT_LAB_API Session open_session(const GlobalOptions& global,
                                  const std::vector<std::filesystem::path>& config_dirs = {});

struct Experiment {
  Session session;
  RawConfig raw;
  ResolvedConfig config;
  const Registry& registry() const { return session.host->registry(); }
  /// What plugins are created with: relative paths are the experiment's folder's.
  PluginContext context() const { return session.host->context(config.file.parent_path()); }
};

/// Reads, overrides and validates an experiment file. Throws ConfigError.
VGGT_LAB_API Experiment open_experiment(const GlobalOptions& global, const std::filesystem::path& file,
                                        const std::vector<std::string>& overrides);

/// The experiment's [model] plugin object.
VGGT_LAB_API PluginObject<Model> create_model(const Experiment& experiment);

/// What every plan of an experiment starts from.
struct PlanInputs {
  PluginObject<Model> model;
  Topology topology;
  InputShape shape;
  MemoryModel memory;
};
/// The [model] plugin, the topology from [devices] (with overrides), the step
/// shape and the memory model from [train].
VGGT_LAB_API PlanInputs plan_inputs(const ResolvedConfig& config, const Registry& registry,
                                    const PluginContext& context, const TopologyOverrides& overrides = {});
VGGT_LAB_API PlanInputs plan_inputs(const Experiment& experiment, const TopologyOverrides& overrides = {});

/// What a command does with its plan. One that trains on this machine's
/// devices measures unit costs under [costs] source = "auto"; under data
/// parallelism every rank plans with rank 0's measurements.
struct PlanUse {
  bool trains = false;
  distributed::DataParallel* data_parallel = nullptr;
};

/// Topology, step shape and memory model from the configuration, unit costs
/// as [costs] says, placed by its [placement] plugin and predicted.
VGGT_LAB_API PlanReport plan_from_config(const ResolvedConfig& config, const Registry& registry,
                                         const PluginContext& context, const TopologyOverrides& overrides = {},
                                         const PlanUse& use = {});
VGGT_LAB_API PlanReport plan_experiment(const Experiment& experiment, const TopologyOverrides& overrides = {},
                                        const PlanUse& use = {});

}  // namespace vggt_lab
