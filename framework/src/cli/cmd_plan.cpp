#include <iostream>

#include "cli/commands.hpp"
#include "plan/planning.hpp"

namespace vggt_lab {

PluginObject<Model> create_model(const Experiment& experiment) {
  return vggt_lab::create_model(experiment.config, experiment.session.host->registry(),
                                experiment.session.host->context(experiment.config.file.parent_path()));
}

PlanReport plan_experiment(const Experiment& experiment, const TopologyOverrides& overrides) {
  return plan_from_config(experiment.config, experiment.session.host->registry(),
                          experiment.session.host->context(experiment.config.file.parent_path()), overrides);
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
