#pragma once
// Loads plugin libraries, checks their ABI gates, and runs their register
// functions into the registry. Libraries are never unloaded.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "host/registry.hpp"

namespace vggt_lab {

/// Where one plugin folder came from, for messages ("--plugin-path", ...).
struct SearchDir {
  std::filesystem::path path;
  std::string origin;
  bool required = true;  // a missing required folder is an input error
};

/// The search path in the documented order: --plugin-path, then
/// [plugins].search_path, then VGGT_LAB_PLUGIN_PATH (':'-separated), then the
/// plugin folder beside the core library. Never the current folder.
VGGT_LAB_API std::vector<SearchDir> plugin_search_path(
    const std::vector<std::filesystem::path>& cli_paths,
    const std::vector<std::filesystem::path>& config_paths, const char* env_value);

/// <folder of libvggt_lab.so>/vggt-lab/plugins, in the build tree and installed.
VGGT_LAB_API std::filesystem::path default_plugin_dir();

/// The fingerprint this vggt-lab was built with.
VGGT_LAB_API std::string host_fingerprint();

class VGGT_LAB_API PluginHost {
 public:
  explicit PluginHost(std::shared_ptr<spdlog::logger> logger);

  /// Loads one library; a library already loaded (same file) is skipped.
  void load_library(const std::filesystem::path& file);
  /// Loads every vggt_lab_plugin_*.so in a folder (a file is loaded as is).
  void load_path(const SearchDir& dir);
  void load_search_path(const std::vector<SearchDir>& dirs);

  const Registry& registry() const { return registry_; }
  const std::vector<std::shared_ptr<const LoadedLibrary>>& libraries() const { return libraries_; }
  PluginContext context(const std::filesystem::path& config_dir = {}) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  Registry registry_;
  std::vector<std::shared_ptr<const LoadedLibrary>> libraries_;
};

}  // namespace vggt_lab
