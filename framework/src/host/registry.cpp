#include "host/registry.hpp"

#include "host/suggest.hpp"

namespace vggt_lab {

std::string PluginOrigin::describe() const {
  return std::string(to_string(kind)) + " plugin '" + name + "' (" + path + ")";
}

PluginOrigin RegisteredPlugin::origin() const {
  return {info.kind, info.name, library ? library->path.string() : std::string("<built in>")};
}

void Registry::add_all(std::vector<RegisteredPlugin> plugins) {
  std::map<std::pair<Kind, std::string>, const RegisteredPlugin*> claimed;
  for (const auto& [key, plugin] : plugins_) claimed[key] = &plugin;
  for (const RegisteredPlugin& plugin : plugins) {
    auto key = std::make_pair(plugin.info.kind, plugin.info.name);
    auto [it, fresh] = claimed.emplace(key, &plugin);
    if (!fresh) {
      throw PluginLoadError(std::string(to_string(key.first)) + " plugin '" + key.second +
                            "' is registered twice: by " + it->second->origin().path + " and by " +
                            plugin.origin().path +
                            ". Remove one of them from the plugin search path.");
    }
  }
  for (RegisteredPlugin& plugin : plugins) {
    auto key = std::make_pair(plugin.info.kind, plugin.info.name);
    plugins_.emplace(std::move(key), std::move(plugin));
  }
}

const RegisteredPlugin* Registry::find(Kind kind, const std::string& name) const {
  auto it = plugins_.find({kind, name});
  return it == plugins_.end() ? nullptr : &it->second;
}

const RegisteredPlugin& Registry::get(Kind kind, const std::string& name) const {
  if (const RegisteredPlugin* plugin = find(kind, name)) return *plugin;
  std::vector<std::string> available = names(kind);
  throw InputError("unknown " + std::string(to_string(kind)) + " plugin '" + name + "'" +
                   did_you_mean(name, available) + "; available: " + join(available) +
                   " (see `vggt-lab plugins`)");
}

std::vector<const RegisteredPlugin*> Registry::list(std::optional<Kind> kind) const {
  std::vector<const RegisteredPlugin*> out;
  for (const auto& [key, plugin] : plugins_) {
    if (!kind || key.first == *kind) out.push_back(&plugin);
  }
  return out;
}

std::vector<std::string> Registry::names(Kind kind) const {
  std::vector<std::string> out;
  for (const RegisteredPlugin* plugin : list(kind)) out.push_back(plugin->info.name);
  return out;
}

std::shared_ptr<void> Registry::instantiate(Kind kind, const std::string& name,
                                            const Options& options,
                                            const PluginContext& context) const {
  return create_erased(get(kind, name), options, context);
}

std::shared_ptr<void> Registry::create_erased(const RegisteredPlugin& plugin,
                                              const Options& options,
                                              const PluginContext& context) const {
  std::shared_ptr<void> object =
      call_plugin(plugin.origin(), [&] { return plugin.factory(options, context); });
  if (!object) throw Error(plugin.origin().describe() + ": its factory returned nothing");
  // The object keeps its library: it is destroyed first, then the library ref.
  std::shared_ptr<const LoadedLibrary> library = plugin.library;
  void* raw = object.get();
  return std::shared_ptr<void>(raw, [object, library](void*) mutable {
    object.reset();
    library.reset();
  });
}

}  // namespace vggt_lab
