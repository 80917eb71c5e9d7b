#include <iostream>

#include "cli/commands.hpp"
#include "plan/planning.hpp"

namespace vggt_lab {

PluginObject<Model> create_model(const Experiment& experiment) {
  auto name = experiment.config.plugin("model");
  if (!name) throw InputError(experiment.config.file.string() + ": the experiment has no [model] table; add one, e.g. [model] plugin = \"vggt\"");
  return experiment.session.host->registry().create<Model>(
      *name, experiment.config.plugin_options("model"),
      experiment.session.host->context(experiment.config.file.parent_path()));
}

PlanReport plan_experiment(const Experiment& experiment, const TopologyOverrides& overrides) {
  auto placement_name = experiment.config.plugin("placement");
  if (!placement_name) {
    throw InputError(experiment.config.file.string() +
                     ": the experiment has no [placement] table; add one, e.g. [placement] plugin = \"single\"");
  }
  auto model = create_model(experiment);
  auto placement = experiment.session.host->registry().create<Placement>(
      *placement_name, experiment.config.plugin_options("placement"),
      experiment.session.host->context(experiment.config.file.parent_path()));
  Topology topology = make_topology(experiment.config.core("devices"), overrides);
  const Options& train = experiment.config.core("train");
  MemoryModel memory = model.call([&](Model& m) { return memory_model(train, m, topology); });
  return make_plan(model, placement, topology, step_shape(train), memory);
}

int command_plan(const GlobalOptions& global, const PlanArgs& args) {
  Experiment experiment = open_experiment(global, args.file, args.overrides);
  TopologyOverrides overrides;
  if (args.devices > 0) overrides.devices = args.devices;
  if (!args.device_memory.empty()) {
    auto bytes = parse_bytes(args.device_memory);
    if (!bytes) throw InputError("--device-memory " + args.device_memory + ": expected a size such as 80GiB");
    overrides.memory = *bytes;
  }
  PlanReport report = plan_experiment(experiment, overrides);
  std::cout << (args.json ? plan_json(report) + "\n" : plan_text(report));
  return report.fits() ? 0 : 1;
}

}  // namespace vggt_lab
