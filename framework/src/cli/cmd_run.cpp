#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>

#include "cli/commands.hpp"
#include "host/files.hpp"
#include "host/interrupt.hpp"
#include "report/layout.hpp"
#include "report/run_report.hpp"
#include "train/trainer.hpp"
#include "vggt_lab/compat.hpp"

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

/// <[output].dir>/<name>-<time>, made by this process: a second run started
/// in the same second gets <name>-<time>-2, and so on.
std::filesystem::path new_run_dir(const ResolvedConfig& config) {
  const std::filesystem::path base = std::filesystem::path(config.core("output").get<std::string>("dir")) /
                                     (config.core("experiment").get<std::string>("name") + "-" + timestamp());
  std::error_code ec;
  if (!base.parent_path().empty()) std::filesystem::create_directories(base.parent_path(), ec);
  for (int k = 1; !ec; ++k) {
    const std::filesystem::path dir = k == 1 ? base : std::filesystem::path(base.string() + "-" + std::to_string(k));
    if (std::filesystem::create_directory(dir, ec)) return dir;
  }
  throw InputError("cannot create a run folder in " + base.parent_path().string() + ": " + ec.message());
}

/// The run folder: --out, the run being resumed, or a new one.
/// An existing run is never overwritten, only continued with --resume.
/// The folder --out or --resume names for the run, if any.
std::optional<std::filesystem::path> named_run_dir(const RunArgs& args) {
  if (args.out) return *args.out;
  if (args.resume && std::filesystem::exists(*args.resume / "config.resolved.toml")) return *args.resume;
  return std::nullopt;
}

/// Refuses a named run folder that holds another run or files of no run,
/// unless the run continues there.
void check_run_dir_free(const RunArgs& args) {
  const auto dir = named_run_dir(args);
  if (!dir || (args.resume && std::filesystem::equivalent(dir->empty() ? "." : *dir, *args.resume))) return;
  if (std::filesystem::exists(*dir / "config.resolved.toml")) {
    throw InputError("run folder " + dir->string() +
                     " already holds a run; choose another --out, remove that folder, or continue it with --resume " +
                     dir->string());
  }
  // A run stopped before writing its configuration leaves its lock and log.
  require_own_files(*dir, "a run", [](const std::string& name) {
    return name == ".lock" || std::filesystem::path(name).extension() == ".log";
  });
}

std::filesystem::path make_run_dir(const ResolvedConfig& config, const RunArgs& args) {
  const auto named = named_run_dir(args);
  if (!named) return new_run_dir(config);
  check_run_dir_free(args);
  const std::filesystem::path dir = *named;
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
std::shared_ptr<distributed::DataParallel> join_world(const Experiment& experiment, const Topology& topology) {
  distributed::World world = distributed::world_from_env();
  if (!world.multi()) return nullptr;
  return std::make_shared<distributed::DataParallel>(
      world, distributed::settings_from(experiment.config.core("distributed"), topology.devices.at(0).physical));
}

/// Rank 0 makes the run folder, holds it (`lock`) and tells the others; rank
/// r logs to rank<r>.log.
std::filesystem::path open_run_dir(const Experiment& experiment, const RunArgs& args, distributed::DataParallel* dp,
                                   std::optional<FolderLock>& lock) {
  const bool writer = distributed::writes_run_folder(dp);
  std::filesystem::path dir = writer ? make_run_dir(experiment.config, args) : std::filesystem::path();
  if (writer) lock.emplace(dir);  // a run resumed twice at once would write one folder from two processes
  if (dp) dir = dp->share("run_dir", dir.string());
  std::filesystem::create_directories(dir);
  if (!writer) {  // the terminal shows rank 0; other ranks' info lines go to their log
    for (auto& sink : experiment.session.logger->sinks()) sink->set_level(spdlog::level::warn);
  }
  log_to_file(*experiment.session.logger,
              dir / (writer ? std::string("run.log") : "rank" + std::to_string(dp->world().rank) + ".log"));
  return dir;
}

/// Training needs the GPUs a plan names; planning does not.
void check_devices_exist(const Experiment& experiment, const Topology& topology) {
  const int gpus = compat::cuda_device_count();
  for (const auto& d : topology.devices) {
    if (d.physical == "cpu" || std::stoi(d.physical.substr(5)) < gpus) continue;
    throw InputError(where_written(experiment.raw, "devices", "physical").str() + ": logical device " + std::to_string(d.index) +
                     " is on " + d.physical + ", but " +
                     (gpus == 0 ? std::string("this build of vggt-lab sees no CUDA device")
                                : "only " + std::to_string(gpus) + " CUDA device(s) exist") +
                     "; train with [devices] physical = \"auto\" or \"cpu\" (`vggt-lab plan` can still plan for GPUs)");
  }
}

/// Whether the run continues the run folder --resume names, in place.
bool continues_in_place(const RunArgs& args) {
  if (!args.resume || !std::filesystem::exists(*args.resume / "config.resolved.toml")) return false;
  return !args.out || std::filesystem::equivalent(*args.out, *args.resume);
}

/// Why --resume PATH alone cannot continue a run in place.
std::string not_a_run_folder(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string head = "--resume " + path.string() + ": ";
  if (!fs::exists(path)) return head + "no such folder; name a run folder (one holding config.resolved.toml)";
  const fs::path real = fs::canonical(path);  // RUN/checkpoints or RUN/checkpoints/step-<n>
  for (const fs::path& run : {real.parent_path(), real.parent_path().parent_path()}) {
    if (fs::exists(run / "config.resolved.toml")) {
      return head + "a checkpoint of the run " + run.string() + "; continue that run in place with --resume " +
             run.string() + " (its newest intact checkpoint), or start a new run from this checkpoint with an "
             "experiment file, --out NEW_FOLDER and --resume " + path.string();
    }
  }
  return head + "not a run folder (no config.resolved.toml in it); to start a new run from a checkpoint, give "
         "an experiment file and --out NEW_FOLDER as well";
}

/// "table.key" for every setting on which two configurations differ.
std::vector<std::string> differing_keys(const ResolvedConfig& a, const ResolvedConfig& b) {
  std::set<std::string> tables;
  for (const auto* c : {&a, &b}) {
    for (const auto& [name, table] : c->tables) tables.insert(name);
  }
  std::vector<std::string> out;
  for (const auto& name : tables) {
    auto x = a.tables.find(name), y = b.tables.find(name);
    if (x == a.tables.end() || y == b.tables.end() || x->second.plugin != y->second.plugin) {
      out.push_back("[" + name + "]" + (x == a.tables.end() || y == b.tables.end() ? "" : " plugin"));
      continue;
    }
    for (const auto& [key, value] : x->second.options.values()) {
      if (!y->second.options.has(key) || format_value(value) != format_value(y->second.options.at(key))) {
        out.push_back(name + "." + key + " (" + format_value(value) + " in the run)");
      }
    }
  }
  return out;
}

/// The experiment to run: a run folder continued in place keeps its own
/// configuration, and an experiment file given too must agree with it except
/// for the settings --set names.
Experiment experiment_for(const GlobalOptions& global, const RunArgs& args) {
  if (!continues_in_place(args)) {
    if (args.file.empty() && args.resume) throw InputError(not_a_run_folder(*args.resume));
    if (args.file.empty()) {
      throw InputError("run needs an experiment file, or --resume RUN_FOLDER to continue a run in place");
    }
    return open_experiment(global, args.file, args.overrides);
  }
  Experiment own = open_experiment(global, *args.resume / "config.resolved.toml", args.overrides);
  if (args.file.empty()) return own;
  Experiment given = open_experiment(global, args.file, args.overrides);
  auto differences = differing_keys(own.config, given.config);
  if (!differences.empty()) {
    std::string list;
    for (const auto& d : differences) list += "\n  " + d;
    throw InputError(args.file.string() + " differs from the configuration of the run it resumes (" +
                     (*args.resume / "config.resolved.toml").string() + "):" + list +
                     "\nresume without the file to keep the run's configuration, name what may change with --set "
                     "table.key=value, or start a new run from its checkpoint with --out NEW_FOLDER");
  }
  return own;
}

/// The checkpoint --resume names, located and verified, with the experiment's
/// model and steps left to train under its train.steps.
train::LocatedCheckpoint checkpoint_to_resume(const Experiment& experiment, const PluginObject<Model>& model,
                                              const std::filesystem::path& where) {
  train::LocatedCheckpoint at = train::locate_checkpoint(where);
  train::check_weights_match(at, model.call([](Model& m) { return m.state_dict_spec(); }));
  const std::int64_t steps = experiment.config.core("train").get<std::int64_t>("steps");
  if (at.state.step >= steps) {
    const std::string done = std::to_string(at.state.step);
    throw InputError("--resume " + where.string() + ": its checkpoint " + at.dir.filename().string() + " is at step " +
                     done + " and train.steps is " + std::to_string(steps) +
                     ": nothing is left to train. Train on with --set train.steps=N, N above " + done);
  }
  return at;
}

}  // namespace

void check_run_arguments(const GlobalOptions& global, const RunArgs& args) {
  const Experiment experiment = experiment_for(global, args);
  if (args.resume) checkpoint_to_resume(experiment, create_model(experiment), *args.resume);
  check_run_dir_free(args);
  if (continues_in_place(args)) FolderLock free_now(*args.resume);
}

int command_run(const GlobalOptions& global, const RunArgs& args) {
  Experiment experiment = experiment_for(global, args);
  const bool in_place = continues_in_place(args);
  spdlog::logger& log = *experiment.session.logger;
  create_plugins(experiment);
  const Topology topology = make_topology(experiment.config.core("devices"));
  check_devices_exist(experiment, topology);
  auto dp = join_world(experiment, topology);
  PlanReport plan = plan_experiment(experiment, {}, {true, dp.get()});
  if (!plan.fits()) {
    throw InputError("the plan does not fit its devices:\n" + plan_text(plan) +
                     "choose another [placement], more or larger [devices], or a smaller step ([train])");
  }
  runtime::check_runnable(plan.graph, plan.plan, plan.topology);
  PluginObject<Model> model = create_model(experiment);
  std::optional<train::LocatedCheckpoint> resume;  // found before anything is written
  if (args.resume) resume = checkpoint_to_resume(experiment, model, *args.resume);
  const bool writer = distributed::writes_run_folder(dp.get());
  std::optional<FolderLock> lock;  // held until the run ends
  std::filesystem::path dir = open_run_dir(experiment, args, dp.get(), lock);
  if (writer && !in_place) write_file_atomic(dir / "config.resolved.toml", experiment.config.to_toml());
  if (writer) write_file_atomic(dir / "plan.json", plan_json(plan) + "\n");
  if (writer) write_file_atomic(dir / "plan.svg", report::layout_picture(plan));
  if (in_place && !args.overrides.empty()) {
    std::string changed;
    for (const auto& o : args.overrides) changed += " " + o;
    log.info("resuming {} with its configuration changed by --set:{}", dir.string(), changed);
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
  setup.resume = resume;
  setup.plan = plan;
  setup.model = std::move(model);
  setup.progress_bar = isatty(STDERR_FILENO) && !global.quiet;
  setup.data_parallel = dp;
  const train::TrainSummary summary = [&] {
    StopOnInterrupt interrupts(writer ? "\nvggt-lab: stopping after this step, with a checkpoint; interrupt again "
                                        "to stop at once\n"
                                      : nullptr);
    return train::train(setup);
  }();
  if (!writer) return summary.interrupted ? 128 + summary.interrupted : 0;
  report::write_run_report(dir, meta.get<std::string>("name"), meta.get<std::string>("description"), summary);
  if (summary.interrupted) return 128 + summary.interrupted;
  if (!summary.stopped.empty()) throw Error("training stopped early; the report: " + (dir / "report.md").string());
  log.info("done: loss {:.4f} -> {:.4f} (first and last fifth of the steps), {:.2f} scenes/s; see {}",
           summary.first_fifth_loss, summary.last_fifth_loss, summary.samples_per_second,
           (dir / "report.md").string());
  return 0;
}

}  // namespace vggt_lab
