#include "cli/app.hpp"

#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>

#include <cstdlib>
#include <functional>
#include <thread>
#include <iostream>

#include "cli/commands.hpp"
#include "host/crash.hpp"
#include "host/config.hpp"
#include "host/malloc_tuning.hpp"
#include "vggt_lab/schedule.hpp"

namespace vggt_lab {
namespace {

using CommandAction = std::function<int()>;

void add_global_options(CLI::App& app, GlobalOptions& global) {
  app.add_flag("-v,--verbose", global.verbose, "Log debug messages");
  app.add_flag("-q,--quiet", global.quiet, "Log warnings and errors only");
  app.add_option("--plugin-path", global.plugin_paths,
                 "Plugin folder or library, searched first (repeatable)");
}

void add_run(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* run = app.add_subcommand("run", "Train under a layout described by an experiment file");
  run->add_option("file", args->file, "Experiment TOML file (continuing a run folder: its own configuration)");
  run->add_option("--out", args->out, "Run folder (default: <[output].dir>/<name>-<time>)");
  run->add_option("--set", args->overrides, "Override a setting: table.key=value (repeatable)");
  run->add_option("--resume", args->resume,
                  "Continue a run folder in place (with its own configuration; --set names what may change), "
                  "or start a new run from a run's or a step folder's checkpoint with --out");
  run->callback([&, args] { action = [&global, args] { return command_run(global, *args); }; });
}

void add_launch(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<LaunchArgs>();
  CLI::App* launch = app.add_subcommand("launch", "Start N local data-parallel ranks of `vggt-lab run`");
  launch->add_option("-n,--processes", args->processes, "Ranks (processes) on this machine")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  launch->add_option("file", args->run.file, "Experiment TOML file (not needed with --resume RUN_FOLDER)");
  launch->add_option("--out", args->run.out, "Run folder (default: <[output].dir>/<name>-<time>)");
  launch->add_option("--set", args->run.overrides, "Override a setting: table.key=value (repeatable)");
  launch->add_option("--resume", args->run.resume, "Continue a run from its folder or a checkpoint");
  launch->add_option("--port", args->port, "MASTER_PORT for the rendezvous (default: a free port)");
  launch->add_flag("--bind-cores,!--no-bind-cores", args->bind_cores,
                   "Bind rank r to the r-th equal share of the CPUs launch may use (default; not when there are "
                   "fewer CPUs than ranks)");
  launch->footer("Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT as "
                 "from torchrun; `torchrun --nproc_per_node=N --no-python vggt-lab run FILE.toml` is equivalent "
                 "but for the binding.");
  launch->callback([&, args] { action = [&global, args] { return command_launch(global, *args); }; });
}

void add_plugins(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<PluginsArgs>();
  CLI::App* plugins = app.add_subcommand("plugins", "List the plugins that can be loaded");
  plugins->add_option("--kind", args->kind, "Only this kind: model, placement, gradient, optimizer, data");
  plugins->add_flag("--json", args->json, "Print JSON");
  plugins->callback([&, args] {
    if (!action) action = [&global, args] { return command_plugins_list(global, *args); };
  });
  auto show = std::make_shared<std::pair<std::string, std::string>>();
  CLI::App* show_cmd = plugins->add_subcommand("show", "Print one plugin's documentation and options");
  show_cmd->add_option("kind", show->first, "Plugin kind; or the name alone, when one kind has a plugin of that name")
      ->required();
  show_cmd->add_option("name", show->second, "Plugin name");
  show_cmd->callback([&, show] {
    action = [&global, show] { return command_plugins_show(global, show->first, show->second); };
  });
  auto scaffold = std::make_shared<ScaffoldArgs>();
  CLI::App* new_cmd = plugins->add_subcommand("new", "Write an out-of-tree plugin project to start from");
  new_cmd->add_option("kind", scaffold->kind, "Plugin kind: placement, data, gradient or optimizer")->required();
  new_cmd->add_option("name", scaffold->name, "Plugin name, e.g. my-layout")->required();
  new_cmd->add_option("--dir", scaffold->dir, "Folder to create it in")->capture_default_str();
  new_cmd->callback([&, scaffold] {
    action = [&global, scaffold] { return command_plugins_new(global, *scaffold); };
  });
}

void add_infer(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<InferArgs>();
  CLI::App* infer = app.add_subcommand("infer", "Predict cameras, depth and points for a folder of images");
  infer->add_option("--config", args->config, "Experiment TOML file (model, devices, placement)")->required();
  infer->add_option("--images", args->images, "Folder of .png / .jpg images of one scene")->required();
  infer->add_option("--out", args->out, "Output folder")->required();
  infer->add_option("--checkpoint", args->checkpoint, "Weights: a run folder, a checkpoint, model.pt or .safetensors");
  infer->add_option("--conf-percentile", args->conf_percentile, "Keep points above this confidence percentile")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  infer->add_option("--set", args->overrides, "Override a setting: table.key=value");
  infer->callback([&, args] { action = [&global, args] { return command_infer(global, *args); }; });
}

void add_data(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  CLI::App* data = app.add_subcommand("data", "Training data");
  data->require_subcommand(1);
  auto args = std::make_shared<DataExportArgs>();
  CLI::App* exp = data->add_subcommand("export", "Write scenes of the experiment's [data] source in the scene-folder layout");
  exp->add_option("file", args->file, "Experiment TOML file")->required();
  exp->add_option("--scenes", args->scenes, "How many scenes")->capture_default_str()->check(CLI::PositiveNumber);
  exp->add_option("--out", args->out, "Output folder")->required();
  exp->add_option("--depth-scale", args->depth_scale, "Metres per unit of the 16-bit depth PNGs")->capture_default_str();
  exp->add_flag("--npy-depth", args->npy_depth, "Write depth as float32 .npy instead");
  exp->add_option("--set", args->overrides, "Override a setting: table.key=value");
  exp->callback([&, args] { action = [&global, args] { return command_data_export(global, *args); }; });
}

void add_bench(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* bench = app.add_subcommand(
      "bench", "Measure placement memory, pipeline and frame-parallel throughput, data speed, overhead, a step against its FLOP floor, data-parallel scaling");
  bench->add_option("name", args->name, "placement, pipeline, frames, data, overhead, step, data-parallel, all (the CPU ones) or gpu")
      ->required()
      ->check(CLI::IsMember({"placement", "pipeline", "frames", "data", "overhead", "step", "data-parallel", "all", "gpu"}));
  bench->add_option("file", args->file, "Experiment giving the model, data and step (default: experiments/bench_placement.toml for placement, experiments/bench_step.toml for step, experiments/bench.toml otherwise)");
  bench->add_option("--steps", args->steps, "Measured steps per case")->capture_default_str()->check(CLI::PositiveNumber);
  bench->add_option("--json", args->json_out, "Also write the results to this JSON file");
  bench->add_option("--set", args->overrides, "Override a setting: table.key=value");
  bench->callback([&, args] { action = [&global, args] { return command_bench(global, *args); }; });
}

void add_sweep(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<SweepArgs>();
  CLI::App* sweep = app.add_subcommand("sweep", "Explore layouts (grid of settings), plan or measure each, rank them");
  sweep->add_option("file", args->file, "Sweep TOML file ([sweep] base = ..., [axes] ...)")->required();
  sweep->add_option("--out", args->out, "Output folder (an existing sweep there resumes)")->required();
  sweep->add_option("--mode", args->mode, "plan (cost model) or measure (train each trial a few steps)")
      ->check(CLI::IsMember({"plan", "measure"}));
  sweep->add_option("--jobs", args->jobs, "Trials at once")->capture_default_str()->check(CLI::PositiveNumber);
  sweep->callback([&, args] { action = [&global, args] { return command_sweep(global, *args); }; });
}

void add_compare(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* compare = app.add_subcommand("compare", "Runs side by side: one table, overlaid loss, throughput, memory");
  compare->add_option("runs", args->runs, "Run folders")->required()->check(CLI::ExistingDirectory);
  compare->add_option("--out", args->out, "Write compare.md and its plots (loss, throughput, memory) here");
  compare->callback([&, args] { action = [&global, args] { return command_compare(global, *args); }; });
}

void add_plan(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* plan = app.add_subcommand(
      "plan", "Place the model on (imagined) devices and predict memory and time, without a GPU");
  plan->add_option("file", args->file, "Experiment TOML file")->required();
  plan->add_option("--devices", args->devices, "Logical devices (overrides [devices] count)")
      ->check(CLI::PositiveNumber);
  plan->add_option("--device-memory", args->device_memory, "Capacity of every device, e.g. 80GiB");
  plan->add_flag("--json", args->json, "Print one JSON object");
  plan->add_flag("--max-frames", args->max_frames,
                 "Find the most frames per scene that fit, and the device and unit that bind");
  plan->add_option("--svg", args->svg, "Also draw the plan: units by device, memory per device, schedule")
      ->excludes("--max-frames");
  plan->add_option("--set", args->overrides, "Override a setting: table.key=value (repeatable)");
  plan->footer("Exit status 1 when the plan does not fit its devices (with --max-frames: not even 1 frame).");
  plan->callback([&, args] { action = [&global, args] { return command_plan(global, *args); }; });
}

void add_profile(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  auto args = std::make_shared<ProfileArgs>();
  CLI::App* profile = app.add_subcommand(
      "profile", "Measure each unit's time and memory on the experiment's first device; calibrate the estimates");
  profile->add_option("file", args->file, "Experiment TOML file")->required();
  profile->add_option("--out", args->out, "Also write the profile here, for [costs] calibration");
  profile->add_option("--repeat", args->repeat, "Timed runs per unit (default: [costs] repeat)")
      ->check(CLI::PositiveNumber);
  profile->add_flag("--refresh", args->refresh, "Measure again even when a cached profile matches");
  profile->add_option("--set", args->overrides, "Override a setting: table.key=value (repeatable)");
  profile->callback([&, args] { action = [&global, args] { return command_profile(global, *args); }; });
}

void add_model(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  CLI::App* model = app.add_subcommand("model", "Inspect models");
  model->require_subcommand(1);
  auto args = std::make_shared<ModelKeysArgs>();
  CLI::App* keys = model->add_subcommand(
      "keys", "Print every state-dict key and shape (key<TAB>[shape]) without allocating");
  keys->add_option("--plugin", args->plugin, "Model plugin")->capture_default_str();
  keys->add_option("--preset", args->preset, "Size preset, e.g. 1b, small, tiny");
  keys->add_option("--set", args->overrides, "Override a model option: model.key=value");
  keys->callback([&, args] { action = [&global, args] { return command_model_keys(global, *args); }; });
  auto show_args = std::make_shared<ModelShowArgs>();
  CLI::App* show = model->add_subcommand("show", "Print the units with the modules and parameter counts they hold");
  show->add_option("file", show_args->file, "Experiment TOML file with a [model] table")->required();
  show->add_option("--set", show_args->overrides, "Override a setting: table.key=value");
  show->callback([&, show_args] {
    action = [&global, show_args] { return command_model_show(global, *show_args); };
  });
  auto convert_args = std::make_shared<ModelConvertArgs>();
  CLI::App* convert = model->add_subcommand(
      "convert", "Convert weights between torch.save (.pt) and .safetensors");
  convert->add_option("input", convert_args->input,
                      "model.pt (or a .pt holding 'model'), .safetensors, or a vggt-lab run or checkpoint folder")
      ->required();
  convert->add_option("output", convert_args->output, "*.safetensors or *.pt (a new file)")->required();
  convert->add_flag("--force", convert_args->force, "Replace the output file when it exists");
  convert->callback([&, convert_args] {
    action = [&global, convert_args] { return command_model_convert(global, *convert_args); };
  });
}

void add_commands(CLI::App& app, const GlobalOptions& global, CommandAction& action) {
  add_run(app, global, action);
  add_plugins(app, global, action);
  add_plan(app, global, action);
  add_profile(app, global, action);
  add_bench(app, global, action);
  add_sweep(app, global, action);
  add_compare(app, global, action);
  add_infer(app, global, action);
  add_data(app, global, action);
  add_model(app, global, action);
  add_launch(app, global, action);
  app.add_subcommand("version", "Print the version and build fingerprint")->callback([&action] {
    action = [] { return command_version(); };
  });
}

int report(const std::exception& e, int status) {
  std::cerr << "error: " << e.what() << "\n";
  return status;
}

}  // namespace

/// LibTorch's intra-op threads default to 1 in some builds; use this
/// process's cores unless OMP_NUM_THREADS says otherwise.
static void use_all_cores() {
  if (std::getenv("OMP_NUM_THREADS") == nullptr) at::set_num_threads(process_cores());
}

int run_cli(int argc, char** argv) {
  install_crash_handler();
  keep_freed_memory();
  use_all_cores();
  CLI::App app{"vggt-lab: train VGGT with its layers spread over several devices"};
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  CommandAction action;
  add_global_options(app, global);
  add_commands(app, global, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int status = app.exit(e);
    return status == 0 ? 0 : 2;
  }
  try {
    return action();
  } catch (const ConfigError& e) {
    for (const std::string& message : e.messages()) std::cerr << message << "\n";
    return 2;
  } catch (const InputError& e) {
    return report(e, 2);
  } catch (const std::exception& e) {
    return report(e, 1);
  }
}

}  // namespace vggt_lab
