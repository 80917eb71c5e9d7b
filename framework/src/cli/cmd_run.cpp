#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "cli/commands.hpp"
#include "host/files.hpp"
#include "report/run_report.hpp"
#include "train/trainer.hpp"

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

/// The run folder: --out, the run being resumed, or <[output].dir>/<name>-<time>.
/// An existing run is never overwritten, only continued with --resume.
std::filesystem::path make_run_dir(const ResolvedConfig& config, const RunArgs& args) {
  std::filesystem::path dir;
  if (args.out) {
    dir = *args.out;
  } else if (args.resume && std::filesystem::exists(*args.resume / "config.resolved.toml")) {
    dir = *args.resume;
  } else {
    dir = std::filesystem::path(config.core("output").get<std::string>("dir")) /
          (config.core("experiment").get<std::string>("name") + "-" + timestamp());
  }
  bool continuing = args.resume && std::filesystem::equivalent(dir.empty() ? "." : dir, *args.resume);
  if (!continuing && std::filesystem::exists(dir / "config.resolved.toml")) {
    throw InputError("run folder " + dir.string() +
                     " already holds a run; choose another --out, remove that folder, or continue it with --resume " +
                     dir.string());
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
  PluginContext context = experiment.session.host->context(experiment.config.file.parent_path());
  for (const auto& [table, kind] : plugin_tables()) {
    if (auto name = experiment.config.plugin(table)) {
      registry.instantiate(kind, *name, experiment.config.plugin_options(table), context);
    }
  }
}

/// Joins the other ranks when started by `vggt-lab launch` or torchrun.
std::shared_ptr<distributed::DataParallel> join_world(const Experiment& experiment) {
  distributed::World world = distributed::world_from_env();
  if (!world.multi()) return nullptr;
  return std::make_shared<distributed::DataParallel>(
      world, distributed::settings_from(experiment.config.core("distributed")));
}

/// Rank 0 makes the run folder and tells the others; rank r logs to rank<r>.log.
std::filesystem::path open_run_dir(const Experiment& experiment, const RunArgs& args,
                                   distributed::DataParallel* dp) {
  const bool writer = distributed::writes_run_folder(dp);
  std::filesystem::path dir = writer ? make_run_dir(experiment.config, args) : std::filesystem::path();
  if (dp) dir = dp->share("run_dir", dir.string());
  std::filesystem::create_directories(dir);
  if (!writer) {  // the terminal shows rank 0; other ranks' info lines go to their log
    for (auto& sink : experiment.session.logger->sinks()) sink->set_level(spdlog::level::warn);
  }
  log_to_file(*experiment.session.logger,
              dir / (writer ? std::string("run.log") : "rank" + std::to_string(dp->world().rank) + ".log"));
  return dir;
}

}  // namespace

int command_run(const GlobalOptions& global, const RunArgs& args) {
  Experiment experiment = open_experiment(global, args.file, args.overrides);
  spdlog::logger& log = *experiment.session.logger;
  create_plugins(experiment);
  PlanReport plan = plan_experiment(experiment);
  if (!plan.fits()) {
    throw InputError("the plan does not fit its devices:\n" + plan_text(plan) +
                     "choose another [placement], more or larger [devices], or a smaller step ([train])");
  }
  auto dp = join_world(experiment);
  const bool writer = distributed::writes_run_folder(dp.get());
  std::filesystem::path dir = open_run_dir(experiment, args, dp.get());
  if (writer) {
    write_file_atomic(dir / "config.resolved.toml", experiment.config.to_toml());
    write_file_atomic(dir / "plan.json", plan_json(plan) + "\n");
  }
  const Options& meta = experiment.config.core("experiment");
  log.info("experiment '{}', run folder {}, world size {}", meta.get<std::string>("name"), dir.string(),
           dp ? dp->world().size : 1);
  log.info("{}", plan_text(plan));
  train::TrainerSetup setup;
  setup.config = &experiment.config;
  setup.registry = &experiment.session.host->registry();
  setup.context = experiment.session.host->context(experiment.config.file.parent_path());
  setup.run_dir = dir;
  setup.resume = args.resume;
  setup.plan = plan;
  setup.model = create_model(experiment);
  setup.progress_bar = isatty(STDERR_FILENO) && !global.quiet;
  setup.data_parallel = dp;
  train::TrainSummary summary = train::train(setup);
  if (!writer) return 0;
  report::write_run_report(dir, meta.get<std::string>("name"), meta.get<std::string>("description"), summary);
  log.info("done: loss {:.4f} -> {:.4f} (first and last fifth of the steps), {:.2f} scenes/s; see {}",
           summary.first_fifth_loss, summary.last_fifth_loss, summary.samples_per_second,
           (dir / "report.md").string());
  return 0;
}

}  // namespace vggt_lab
