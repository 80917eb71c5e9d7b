// `vggt-lab profile`: every unit measured on the experiment's first device,
// beside the model's estimates, and the calibration factors that follow.
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "profile/costs.hpp"

namespace vggt_lab {
namespace {

std::string fixed(double value, const char* format) {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

std::string mib(double bytes) { return fixed(bytes / (1 << 20), "%.2f"); }

std::string profile_table(const profile::Profile& p) {
  std::string out = "| unit | kept MiB (measured) | kept MiB (analytic) | measured / analytic | workspace MiB | "
                    "forward ms | backward ms |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& u : p.units) {
    const double analytic = double(unit_activations({u.unit, u.analytic}, p.memory));
    out += "| " + u.unit + " | " + mib(double(u.kept_bytes)) + " | " + mib(analytic) + " | " +
           (analytic > 0 ? fixed(double(u.kept_bytes) / analytic, "%.2f") : std::string("-")) + " | " +
           mib(double(u.workspace_bytes)) + " | " + fixed(1e3 * u.forward_seconds, "%.1f") + " | " +
           fixed(1e3 * u.backward_seconds, "%.1f") + " |\n";
  }
  return out;
}

std::string calibration_table(const profile::Calibration& c) {
  std::string out = "\n| kind | kept factor | workspace / analytic activations | forward ns per MFLOP | "
                    "backward / forward |\n| --- | ---: | ---: | ---: | ---: |\n";
  for (const auto& [kind, f] : c.kinds) {
    out += "| " + kind + " | " + fixed(f.kept, "%.3f") + " | " + fixed(f.workspace, "%.3f") + " | " +
           fixed(f.forward_seconds_per_flop * 1e15, "%.1f") + " | " + fixed(f.backward_over_forward, "%.2f") + " |\n";
  }
  return out;
}

}  // namespace

int command_profile(const GlobalOptions& global, const ProfileArgs& args) {
  std::vector<std::string> overrides = args.overrides;
  if (args.repeat > 0) overrides.push_back("costs.repeat=" + std::to_string(args.repeat));
  Experiment e = open_experiment(global, args.file, overrides);
  PlanInputs in = plan_inputs(e);
  profile::ProfileRequest request{&e.config, &e.registry(), e.context(), in.topology, in.memory,
                                  !args.refresh};
  profile::Profile p = profile::profile_experiment(request);
  std::cout << "profile of " << args.file.string() << " on " << p.device << ": " << p.shape.batch << " scene(s) x "
            << p.shape.frames << " frames of " << p.shape.height << "x" << p.shape.width << "\n\n"
            << profile_table(p) << calibration_table(profile::calibrate(p));
  if (!args.out.empty()) {
    profile::write_profile(p, args.out);
    std::cout << "\nwrote " << args.out.string() << " (use it as [costs] calibration = \"" << args.out.string()
              << "\")\n";
  }
  return 0;
}

}  // namespace vggt_lab
