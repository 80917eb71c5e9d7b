#include "experiment/experiment.hpp"

#include <cstdlib>

#include "profile/costs.hpp"

namespace vggt_lab {

Verbosity GlobalOptions::verbosity() const {
  if (verbose) return Verbosity::verbose;
  return quiet ? Verbosity::quiet : Verbosity::normal;
}

Session open_session(const GlobalOptions& global, const std::vector<std::filesystem::path>& config_dirs) {
  Session session;
  session.logger = make_logger(global.verbosity());
  session.host = std::make_unique<PluginHost>(session.logger);
  session.host->load_search_path(
      plugin_search_path(global.plugin_paths, config_dirs, std::getenv("VGGT_LAB_PLUGIN_PATH")));
  return session;
}

Experiment open_experiment(const GlobalOptions& global, const std::filesystem::path& file,
                           const std::vector<std::string>& overrides) {
  RawConfig raw = load_config(file);
  for (const std::string& assignment : overrides) apply_override(raw, assignment);
  Session session = open_session(global, config_search_path(raw));
  ResolvedConfig config = resolve_config(raw, session.host->registry());
  return {std::move(session), std::move(raw), std::move(config)};
}

PluginObject<Model> create_model(const Experiment& experiment) {
  return create_plugin<Model>(experiment.config, "model", experiment.registry(), experiment.context());
}

PlanInputs plan_inputs(const ResolvedConfig& config, const Registry& registry, const PluginContext& context,
                       const TopologyOverrides& overrides) {
  PlanInputs in{create_plugin<Model>(config, "model", registry, context),
                make_topology(config.core("devices"), overrides), step_shape(config.core("train")), {}};
  in.memory = in.model.call([&](Model& m) { return memory_model(config.core("train"), m); });
  return in;
}

PlanInputs plan_inputs(const Experiment& experiment, const TopologyOverrides& overrides) {
  return plan_inputs(experiment.config, experiment.registry(), experiment.context(), overrides);
}

PlanReport plan_from_config(const ResolvedConfig& config, const Registry& registry, const PluginContext& context,
                            const TopologyOverrides& overrides, const PlanUse& use) {
  auto placement = create_plugin<Placement>(config, "placement", registry, context);
  PlanInputs in = plan_inputs(config, registry, context, overrides);
  profile::ProfileRequest request{&config, &registry, context, in.topology, in.memory};
  request.trains = use.trains;
  request.data_parallel = use.data_parallel;
  profile::CostedGraph costed = profile::costed_graph(request, in.model, in.shape);
  PlanReport report = make_plan(costed.graph, placement, in.topology, in.shape, in.memory);
  if (auto timed = profile::timed_for_micro_batches(request, costed, report.plan.micro_batches)) {
    report = make_plan(std::move(*timed), placement, in.topology, in.shape, in.memory);
  }
  if (auto sharded = profile::measured_at_shards(request, costed, report.graph, report.plan)) {
    report = make_plan(std::move(*sharded), placement, in.topology, in.shape, in.memory);
  }
  report.costs = costed.text;
  return report;
}

PlanReport plan_experiment(const Experiment& experiment, const TopologyOverrides& overrides, const PlanUse& use) {
  return plan_from_config(experiment.config, experiment.registry(), experiment.context(), overrides, use);
}

}  // namespace vggt_lab
