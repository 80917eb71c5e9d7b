#pragma once
// What every subcommand that reads an experiment does first: make the logger,
// read the file with its overrides, load plugins, validate.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "host/config.hpp"
#include "host/log.hpp"
#include "host/plugin_host.hpp"

namespace vggt_lab {

/// Options every subcommand takes.
struct GlobalOptions {
  bool verbose = false;
  bool quiet = false;
  std::vector<std::filesystem::path> plugin_paths;
  Verbosity verbosity() const;
};

struct Session {
  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<PluginHost> host;
};

/// Logger and plugins, from --plugin-path, the config's folders, the
/// environment and the built-in folder.
Session open_session(const GlobalOptions& global,
                     const std::vector<std::filesystem::path>& config_dirs = {});

struct Experiment {
  Session session;
  RawConfig raw;
  ResolvedConfig config;
};

/// Reads, overrides and validates an experiment file. Throws ConfigError.
Experiment open_experiment(const GlobalOptions& global, const std::filesystem::path& file,
                           const std::vector<std::string>& overrides);

}  // namespace vggt_lab
