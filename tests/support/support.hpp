#pragma once
// Helpers shared by the test suites.
#include <filesystem>
#include <string>
#include <vector>

#include "experiment/experiment.hpp"

namespace vggt_lab::testing {

/// A fresh folder under the system temp folder, removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  /// Writes `content` to path()/name and returns the full path.
  std::filesystem::path write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

/// A file's whole content ("" when it cannot be read).
std::string read_text(const std::filesystem::path& file);

/// Runs a shell command and captures its output and exit status.
CommandResult run_command(const std::string& command);

/// Waits until `file` has at least `lines` lines; false after `timeout_s`.
bool wait_for_lines(const std::filesystem::path& file, std::size_t lines, double timeout_s);

/// The folder of one purpose-built test plugin.
std::filesystem::path test_plugin_dir(const std::string& name);

/// The built `vggt-lab` executable.
std::string vggt_lab_exe();

/// A unit's cost for planning tests: its parameter bytes and the activation
/// bytes it keeps, the rest zero.
UnitCost unit_cost(std::int64_t param_bytes, std::int64_t activation_bytes);

/// Where a test's random draws come from: each kind of draw seeds its own
/// stream right before it, so a draw is the same whichever tests ran before
/// it in the binary, and two draws of one kind (a model built twice) match.
enum class Stream : std::uint64_t { weights = 0, inputs = 21, projection = 5 };
/// Seeds LibTorch's generator with the stream, plus `offset` for a second
/// draw of the kind that must differ from the first.
void seed(Stream stream, std::uint64_t offset = 0);

/// The built-in plugins, loaded once per test binary.
PluginHost& builtin_plugins();

/// The plugin `overrides` name for `table` ("model.plugin=vggt", ...), its
/// options validated and defaulted as in an experiment file.
template <class I>
PluginObject<I> create_plugin(const std::string& table, const std::vector<std::string>& overrides) {
  RawConfig raw;
  raw.file = "test.toml";
  for (const auto& o : overrides) apply_override(raw, o);
  ResolvedConfig config = resolve_config(raw, builtin_plugins().registry());
  return vggt_lab::create_plugin<I>(config, table, builtin_plugins().registry(), builtin_plugins().context());
}

struct Placed {
  Topology topology;
  Plan plan;
};
/// `devices` logical devices on `physical` (no capacity limit), and the plan
/// the placement that `settings` name ("placement.plugin=...", options) makes.
Placed place_on(const ModelGraph& graph, int devices, const std::vector<std::string>& settings,
                const std::string& physical = "cpu");

/// Each device's peak over two steps as the trainer runs them (gradients
/// cleared, forward, the VGGT losses on a batch of the experiment's data,
/// backward), without an optimizer: what `plan` predicts less optimizer state.
std::vector<std::int64_t> training_peaks(const ResolvedConfig& config, const PlanReport& plan);

}  // namespace vggt_lab::testing
