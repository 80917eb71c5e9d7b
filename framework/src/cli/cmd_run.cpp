#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "cli/commands.hpp"
#include "host/files.hpp"

namespace vggt_lab {
namespace {

std::string timestamp() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", &local);
  return text;
}

/// The run folder: --out, or <[output].dir>/<name>-<time>. An existing run is
/// never overwritten.
std::filesystem::path make_run_dir(const ResolvedConfig& config,
                                   const std::optional<std::filesystem::path>& out) {
  std::filesystem::path dir =
      out ? *out
          : std::filesystem::path(config.core("output").get<std::string>("dir")) /
                (config.core("experiment").get<std::string>("name") + "-" + timestamp());
  if (std::filesystem::exists(dir / "config.resolved.toml")) {
    throw InputError("run folder " + dir.string() +
                     " already holds a run; choose another --out or remove that folder");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("cannot create run folder " + dir.string() + ": " + ec.message());
  return dir;
}

/// Creates every plugin the experiment names, so that a plugin rejecting its
/// options fails before anything is written.
void create_plugins(const Experiment& experiment) {
  const Registry& registry = experiment.session.host->registry();
  PluginContext context =
      experiment.session.host->context(experiment.config.file.parent_path());
  for (const auto& [table, kind] : plugin_tables()) {
    if (auto name = experiment.config.plugin(table)) {
      registry.instantiate(kind, *name, experiment.config.plugin_options(table), context);
      experiment.session.logger->info("[{}] {} plugin '{}'", table, to_string(kind), *name);
    }
  }
}

}  // namespace

int command_run(const GlobalOptions& global, const RunArgs& args) {
  Experiment experiment = open_experiment(global, args.file, args.overrides);
  spdlog::logger& log = *experiment.session.logger;
  create_plugins(experiment);
  std::filesystem::path dir = make_run_dir(experiment.config, args.out);
  log_to_file(log, dir / "run.log");
  write_file_atomic(dir / "config.resolved.toml", experiment.config.to_toml());
  log.info("experiment '{}' is valid; run folder {}",
           experiment.config.core("experiment").get<std::string>("name"), dir.string());
  log.info("training is not implemented yet (issues #3-#6): stopped after validating the "
           "experiment and creating its plugins");
  return 0;
}

}  // namespace vggt_lab
