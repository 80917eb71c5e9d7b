#pragma once
// One function per subcommand; app.cpp only parses arguments into these.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "experiment/experiment.hpp"

namespace vggt_lab {

struct RunArgs {
  std::filesystem::path file;
  std::optional<std::filesystem::path> out;
  std::optional<std::filesystem::path> resume;
  std::vector<std::string> overrides;
};
int command_run(const GlobalOptions& global, const RunArgs& args);
/// What `run` checks before anything is written: the configuration, and the
/// checkpoint --resume names with steps left to train. Throws InputError.
void check_run_arguments(const GlobalOptions& global, const RunArgs& args);

struct LaunchArgs {
  int processes = 2;
  int port = 0;  // 0: a free one
  bool bind_cores = true;  // rank r on the r-th equal share of this process's CPUs
  RunArgs run;
};
/// N local ranks of `vggt-lab run`; returns the first failing rank's status.
int command_launch(const GlobalOptions& global, const LaunchArgs& args);

struct PluginsArgs {
  std::string kind;  // empty: all kinds
  bool json = false;
};
int command_plugins_list(const GlobalOptions& global, const PluginsArgs& args);
int command_plugins_show(const GlobalOptions& global, const std::string& kind,
                         const std::string& name);

struct ModelKeysArgs {
  std::string plugin = "vggt";
  std::string preset;
  std::vector<std::string> overrides;  // model.key=value
};
int command_model_keys(const GlobalOptions& global, const ModelKeysArgs& args);

struct ModelShowArgs {
  std::filesystem::path file;
  std::vector<std::string> overrides;
};
int command_model_show(const GlobalOptions& global, const ModelShowArgs& args);

struct ModelConvertArgs {
  std::filesystem::path input, output;
  bool force = false;  // replace an existing output
};
int command_model_convert(const GlobalOptions& global, const ModelConvertArgs& args);

struct PlanArgs {
  std::filesystem::path file;
  std::vector<std::string> overrides;
  int devices = 0;
  std::string device_memory;
  bool json = false;
  bool max_frames = false;
  std::filesystem::path svg;
};
int command_plan(const GlobalOptions& global, const PlanArgs& args);

struct ProfileArgs {
  std::filesystem::path file, out;
  std::vector<std::string> overrides;
  int repeat = 0;  // 0: [costs] repeat
  bool refresh = false;
};
/// Measures every unit (cached), prints it beside the estimates; --out writes the profile.
int command_profile(const GlobalOptions& global, const ProfileArgs& args);

struct DataExportArgs {
  std::filesystem::path file, out;
  std::vector<std::string> overrides;
  std::int64_t scenes = 10;
  double depth_scale = 0.001;
  bool npy_depth = false;
};
int command_data_export(const GlobalOptions& global, const DataExportArgs& args);

struct InferArgs {
  std::filesystem::path config, images, out;
  std::optional<std::filesystem::path> checkpoint;
  std::vector<std::string> overrides;
  double conf_percentile = 50;
};
int command_infer(const GlobalOptions& global, const InferArgs& args);

struct BenchArgs {
  std::string name;
  std::filesystem::path file;  // empty: experiments/bench_placement.toml for placement, else experiments/bench.toml
  std::vector<std::string> overrides;
  int steps = 3;
  std::optional<std::filesystem::path> json_out;
};
int command_bench(const GlobalOptions& global, const BenchArgs& args);

struct ScaffoldArgs {
  std::string kind, name;
  std::filesystem::path dir = ".";
};
int command_plugins_new(const GlobalOptions& global, const ScaffoldArgs& args);

struct SweepArgs {
  std::filesystem::path file, out;
  std::string mode;
  int jobs = 1;
};
int command_sweep(const GlobalOptions& global, const SweepArgs& args);

struct CompareArgs {
  std::vector<std::filesystem::path> runs;
  std::filesystem::path out;
};
int command_compare(const GlobalOptions& global, const CompareArgs& args);

int command_version();

}  // namespace vggt_lab
