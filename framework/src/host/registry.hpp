#pragma once
// The host-owned registry of plugin factories, keyed by (kind, name). Objects
// it creates hold their library, so they may outlive the registry.
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "host/crash.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/registrar.hpp"

namespace vggt_lab {

/// A loaded plugin library. The handle is opaque here; it is never unloaded.
struct LoadedLibrary {
  std::filesystem::path path;
  std::string name;
  std::string version;
  std::shared_ptr<void> handle;
};

/// Who a plugin is, for messages: "placement plugin 'single' (/path/lib.so)".
struct VGGT_LAB_API PluginOrigin {
  Kind kind = Kind::model;
  std::string name;
  std::string path;
  std::string describe() const;
};

/// Runs plugin code; any exception comes back naming the plugin and its file.
/// Input errors stay input errors (exit status 2).
template <class F>
decltype(auto) call_plugin(const PluginOrigin& origin, F&& body) {
  PluginCallScope running(origin);
  try {
    return body();
  } catch (const InputError& e) {
    throw InputError(origin.describe() + ": " + e.what());
  } catch (const std::exception& e) {
    throw Error(origin.describe() + ": " + e.what());
  } catch (...) {
    throw Error(origin.describe() + ": unknown exception");
  }
}

/// An object made by a plugin, with its origin for error messages.
template <class Interface>
struct PluginObject {
  std::shared_ptr<Interface> object;
  PluginOrigin origin;

  /// Calls `body(Interface&)` with errors wrapped as call_plugin does.
  template <class F>
  decltype(auto) call(F&& body) const {
    return call_plugin(origin, [&]() -> decltype(auto) { return body(*object); });
  }
};

struct VGGT_LAB_API RegisteredPlugin {
  PluginInfo info;
  ErasedFactory factory;
  std::shared_ptr<const LoadedLibrary> library;
  PluginOrigin origin() const;
};

class VGGT_LAB_API Registry {
 public:
  /// Adds one library's plugins, all or none: another library (or the same
  /// one twice) claiming a (kind, name) is an error naming both files.
  void add_all(std::vector<RegisteredPlugin> plugins);

  const RegisteredPlugin* find(Kind kind, const std::string& name) const;
  /// Like find, but an unknown name is an InputError listing what exists.
  const RegisteredPlugin& get(Kind kind, const std::string& name) const;
  std::vector<const RegisteredPlugin*> list(std::optional<Kind> kind = std::nullopt) const;
  std::vector<std::string> names(Kind kind) const;

  /// Creates a plugin object without knowing its interface, e.g. to check
  /// that a plugin accepts its options. The object holds its library.
  std::shared_ptr<void> instantiate(Kind kind, const std::string& name, const Options& options,
                                    const PluginContext& context) const;

  template <class Interface>
  PluginObject<Interface> create(const std::string& name, const Options& options,
                                 const PluginContext& context) const {
    const RegisteredPlugin& plugin = get(Interface::kKind, name);
    return {std::static_pointer_cast<Interface>(create_erased(plugin, options, context)),
            plugin.origin()};
  }

 private:
  std::shared_ptr<void> create_erased(const RegisteredPlugin& plugin, const Options& options,
                                      const PluginContext& context) const;
  std::map<std::pair<Kind, std::string>, RegisteredPlugin> plugins_;
};

}  // namespace vggt_lab
