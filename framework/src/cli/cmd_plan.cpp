#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "host/files.hpp"
#include "report/layout.hpp"

namespace vggt_lab {

namespace {

constexpr std::int64_t kMostFrames = 4096;

/// A plan at `frames` per scene, or why there is none (a placement plugin
/// that finds nothing fitting says so with an InputError).
struct Attempt {
  std::optional<PlanReport> report;
  std::string refusal;
  bool fits() const { return report && report->fits(); }
};

Attempt plan_with_frames(Experiment& experiment, const TopologyOverrides& overrides, std::int64_t frames) {
  experiment.config.tables.at("train").options.set("frames", frames);
  try {
    return {plan_experiment(experiment, overrides), {}};
  } catch (const InputError& e) {
    return {std::nullopt, e.what()};
  }
}

/// The device whose predicted peak exceeds its capacity the most.
std::string binding(const Attempt& attempt) {
  if (!attempt.report) return attempt.refusal;
  const PlanReport& report = *attempt.report;
  std::size_t worst = 0;
  double ratio = -1;
  for (std::size_t d = 0; d < report.predicted.size(); ++d) {
    const double capacity = double(report.topology.devices[d].capacity_bytes);
    const double r = capacity > 0 ? double(report.predicted[d].total()) / capacity : 0.0;
    if (r > ratio) ratio = r, worst = d;
  }
  const DeviceMemory& m = report.predicted.at(worst);
  return "device " + std::to_string(worst) + " binds (" + format_bytes(m.total()) + " of " +
         format_bytes(report.topology.devices[worst].capacity_bytes) + ", peak in " + m.peak_unit + "'s backward)";
}

/// The most frames per scene whose plan fits (0: not even one), by bisection.
int print_max_frames(Experiment& experiment, const TopologyOverrides& overrides, bool json) {
  std::int64_t fits = 0, fails = kMostFrames + 1;
  std::optional<Attempt> over;  // the plan at `fails` frames
  while (fails - fits > 1) {
    const std::int64_t frames = (fits + fails) / 2;
    Attempt attempt = plan_with_frames(experiment, overrides, frames);
    if (attempt.fits()) {
      fits = frames;
    } else {
      fails = frames;
      over = std::move(attempt);
    }
  }
  if (fits == 0) {
    std::cerr << "not even 1 frame per scene fits: " << binding(*over) << "\n";
    return 1;
  }
  const std::string strategy =
      over && over->report ? over->report->plan.strategy : experiment.config.plugin("placement").value_or("");
  const std::string why = over ? binding(*over) : std::string();
  if (json) {
    std::cout << nlohmann::json{{"strategy", strategy}, {"max_frames", fits}, {"binding", why}}.dump() << "\n";
  } else {
    const auto devices = overrides.devices.value_or(int(experiment.config.core("devices").get<std::int64_t>("count")));
    std::cout << strategy << " on " << devices << " device(s): "
              << fits << " frames per scene fit"
              << (over ? "; at " + std::to_string(fails) + " frames " + why
                       : " (the search stops at " + std::to_string(kMostFrames) + ")")
              << "\n";
  }
  return 0;
}

}  // namespace

int command_plan(const GlobalOptions& global, const PlanArgs& args) {
  Experiment experiment = open_experiment(global, args.file, args.overrides);
  TopologyOverrides overrides;
  if (args.devices > 0) overrides.devices = args.devices;
  if (!args.device_memory.empty()) {
    auto bytes = parse_bytes(args.device_memory);
    if (!bytes) throw InputError("--device-memory " + args.device_memory + ": expected a size such as 80GiB");
    overrides.memory = *bytes;
  }
  if (args.max_frames) return print_max_frames(experiment, overrides, args.json);
  PlanReport report = plan_experiment(experiment, overrides);
  if (!args.svg.empty()) write_file_atomic(args.svg, report::layout_picture(report));
  std::cout << (args.json ? plan_json(report) + "\n" : plan_text(report));
  return report.fits() ? 0 : 1;
}

}  // namespace vggt_lab
