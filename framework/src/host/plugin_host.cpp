#include "host/plugin_host.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "vggt_lab/abi.hpp"

namespace vggt_lab {
namespace {

constexpr const char* kLibraryPrefix = "vggt_lab_plugin_";

/// Collects a library's registrations; they reach the registry only if its
/// register function returns normally.
class PendingRegistrar : public Registrar {
 public:
  std::vector<std::pair<PluginInfo, ErasedFactory>> added;

 protected:
  void add_erased(PluginInfo info, ErasedFactory factory) override {
    added.emplace_back(std::move(info), std::move(factory));
  }
};

std::string fix_hint() {
  return "rebuild the plugin against this vggt-lab (same SDK, compiler, LibTorch and Boost), or "
         "remove it from the plugin search path";
}

const VggtLabPluginDescriptor* read_descriptor(boost::dll::shared_library& library,
                                               const std::filesystem::path& file) {
  if (!library.has(VGGT_LAB_PLUGIN_ENTRY_SYMBOL)) {
    throw PluginLoadError(file.string() + ": not a vggt-lab plugin: it does not export '" +
                          VGGT_LAB_PLUGIN_ENTRY_SYMBOL +
                          "' (define it with VGGT_LAB_PLUGIN(...) from <vggt_lab/plugin.hpp>)");
  }
  auto& entry = library.get<const VggtLabPluginDescriptor*()>(VGGT_LAB_PLUGIN_ENTRY_SYMBOL);
  const VggtLabPluginDescriptor* descriptor = entry();
  if (descriptor == nullptr) {
    throw PluginLoadError(file.string() + ": its entry returned no descriptor; " + fix_hint());
  }
  return descriptor;
}

void check_gates(const VggtLabPluginDescriptor& descriptor, const std::filesystem::path& file) {
  if (descriptor.api_version != VGGT_LAB_PLUGIN_API_VERSION) {
    throw PluginLoadError(file.string() + ": plugin API version " +
                          std::to_string(descriptor.api_version) + ", but this vggt-lab expects " +
                          std::to_string(VGGT_LAB_PLUGIN_API_VERSION) + "; " + fix_hint());
  }
  if (descriptor.struct_size < sizeof(VggtLabPluginDescriptor)) {
    throw PluginLoadError(file.string() + ": descriptor size " +
                          std::to_string(descriptor.struct_size) + ", expected at least " +
                          std::to_string(sizeof(VggtLabPluginDescriptor)) + "; " + fix_hint());
  }
  std::string theirs = descriptor.fingerprint ? descriptor.fingerprint : "";
  if (theirs != host_fingerprint()) {
    throw PluginLoadError(file.string() + ": build fingerprint mismatch\n  plugin: " + theirs +
                          "\n  host:   " + host_fingerprint() + "\n" + fix_hint());
  }
  if (!descriptor.register_plugins || !descriptor.name) {
    throw PluginLoadError(file.string() + ": descriptor has no name or register function; " +
                          fix_hint());
  }
}

bool is_plugin_file(const std::filesystem::path& file) {
  std::string name = file.filename().string();
  return name.rfind(kLibraryPrefix, 0) == 0 && file.extension() == ".so";
}

}  // namespace

std::string host_fingerprint() { return VGGT_LAB_BUILD_FINGERPRINT; }

std::filesystem::path default_plugin_dir() {
  std::filesystem::path core = boost::dll::this_line_location();
  return core.parent_path() / "vggt-lab" / "plugins";
}

std::vector<SearchDir> plugin_search_path(const std::vector<std::filesystem::path>& cli_paths,
                                          const std::vector<std::filesystem::path>& config_paths,
                                          const char* env_value) {
  std::vector<SearchDir> dirs;
  for (const auto& path : cli_paths) dirs.push_back({path, "--plugin-path", true});
  for (const auto& path : config_paths) dirs.push_back({path, "[plugins].search_path", true});
  std::string env = env_value ? env_value : "";
  for (std::size_t start = 0; start <= env.size();) {
    std::size_t end = std::min(env.find(':', start), env.size());
    if (end > start) dirs.push_back({env.substr(start, end - start), "VGGT_LAB_PLUGIN_PATH", true});
    start = end + 1;
  }
  dirs.push_back({default_plugin_dir(), "the built-in plugin folder", false});
  return dirs;
}

PluginHost::PluginHost(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}

void PluginHost::load_library(const std::filesystem::path& file) {
  std::filesystem::path canonical = std::filesystem::weakly_canonical(file);
  for (const auto& loaded : libraries_) {
    if (loaded->path == canonical) return;
  }
  boost::dll::shared_library library;
  try {
    // RTLD_NODELETE: autograd nodes, std::functions and exceptions may point
    // into plugin code, so a library stays mapped for the whole process.
    library.load(canonical, boost::dll::load_mode::type(RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE));
  } catch (const std::exception& e) {
    throw PluginLoadError(canonical.string() + ": cannot load plugin library: " + e.what());
  }
  const VggtLabPluginDescriptor* descriptor = read_descriptor(library, canonical);
  check_gates(*descriptor, canonical);

  auto loaded = std::make_shared<LoadedLibrary>();
  loaded->path = canonical;
  loaded->name = descriptor->name;
  loaded->version = descriptor->version ? descriptor->version : "";
  loaded->handle = std::make_shared<boost::dll::shared_library>(std::move(library));

  PendingRegistrar registrar;
  try {
    descriptor->register_plugins(registrar);
  } catch (const std::exception& e) {
    throw PluginLoadError(canonical.string() + ": plugin library '" + loaded->name +
                          "' failed while registering: " + e.what());
  } catch (...) {
    throw PluginLoadError(canonical.string() + ": plugin library '" + loaded->name +
                          "' failed while registering (unknown exception)");
  }
  std::vector<RegisteredPlugin> plugins;
  for (auto& [info, factory] : registrar.added) {
    plugins.push_back({std::move(info), std::move(factory), loaded});
  }
  registry_.add_all(std::move(plugins));
  libraries_.push_back(loaded);
  if (logger_) {
    logger_->debug("loaded plugin library {} from {}", loaded->name, canonical.string());
  }
}

void PluginHost::load_path(const SearchDir& dir) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir.path, ec)) return load_library(dir.path);
  if (!std::filesystem::is_directory(dir.path, ec)) {
    if (!dir.required) return;
    throw InputError("plugin folder '" + dir.path.string() + "' (from " + dir.origin +
                     ") does not exist; fix the path or remove it");
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path)) {
    if (entry.is_regular_file() && is_plugin_file(entry.path())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) load_library(file);
}

void PluginHost::load_search_path(const std::vector<SearchDir>& dirs) {
  for (const SearchDir& dir : dirs) load_path(dir);
}

PluginContext PluginHost::context(const std::filesystem::path& config_dir) const {
  return {logger_, config_dir.string()};
}

}  // namespace vggt_lab
