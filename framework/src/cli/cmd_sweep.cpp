#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <iostream>

#include "cli/commands.hpp"
#include "host/interrupt.hpp"
#include "sweep/sweep.hpp"

namespace vggt_lab {

int command_sweep(const GlobalOptions& global, const SweepArgs& args) {
  sweep::SweepFile file = sweep::read_sweep(args.file);
  const Session session = open_session(global, config_search_path(load_config(file.base)));
  sweep::Settings o;
  o.mode = args.mode;
  o.jobs = args.jobs;
  o.out = args.out;
  o.executable = boost::dll::program_location();
  o.plugin_paths = global.plugin_paths;
  o.progress_bar = isatty(STDERR_FILENO) && !global.quiet;
  const sweep::Results results = [&] {
    StopOnInterrupt interrupts("\nvggt-lab: stopping after the running trial(s); interrupt again to stop at once\n");
    return sweep::run(file, o, session);
  }();
  std::size_t fits = 0, failed = 0, invalid = 0;
  for (const sweep::TrialResult& t : results.trials) {
    fits += t.fits;
    failed += t.status == "failed";
    invalid += t.status == "invalid";
  }
  std::cout << results.trials.size() << " trial(s): " << fits << " fit, " << failed << " failed, " << invalid
            << " invalid (settings that do not go together); see "
            << (args.out / "report.md").string() << (std::filesystem::exists(args.out / "best.toml") ? " and best.toml" : "") << "\n";
  if (results.interrupted == 0) return 0;
  std::cout << "interrupted: the same command again continues with the trials not finished\n";
  return 128 + results.interrupted;
}

}  // namespace vggt_lab
