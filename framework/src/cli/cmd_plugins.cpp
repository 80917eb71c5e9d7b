#include <iostream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "host/suggest.hpp"
#include "vggt_lab/abi.hpp"

namespace vggt_lab {
namespace {

nlohmann::json to_json(const OptionValue& value) {
  return std::visit([](const auto& v) { return nlohmann::json(v); }, value);
}

nlohmann::json to_json(const OptionSpec& spec) {
  nlohmann::json out = {{"key", spec.key},
                        {"type", to_string(spec.type)},
                        {"required", !spec.default_value},
                        {"doc", spec.doc}};
  out["default"] = spec.default_value ? to_json(*spec.default_value) : nlohmann::json();
  if (spec.min) out["min"] = *spec.min;
  if (spec.max) out["max"] = *spec.max;
  if (!spec.choices.empty()) out["choices"] = spec.choices;
  return out;
}

nlohmann::json to_json(const RegisteredPlugin& plugin) {
  nlohmann::json options = nlohmann::json::array();
  for (const OptionSpec& spec : plugin.info.schema.specs()) options.push_back(to_json(spec));
  return {{"kind", to_string(plugin.info.kind)},
          {"name", plugin.info.name},
          {"version", plugin.info.version},
          {"library", plugin.library->name},
          {"library_version", plugin.library->version},
          {"file", plugin.library->path.string()},
          {"summary", plugin.info.summary},
          {"doc", plugin.info.doc},
          {"options", options}};
}

std::string number_text(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

std::string option_line(const OptionSpec& spec) {
  std::string line = "    " + spec.key + " (" + to_string(spec.type);
  line += spec.default_value ? ", default " + format_value(*spec.default_value) : ", required";
  if (spec.min) line += ", >= " + number_text(*spec.min);
  if (spec.max) line += ", <= " + number_text(*spec.max);
  if (!spec.choices.empty()) line += ", one of " + join(spec.choices, "|");
  return line + "): " + spec.doc;
}

void print_plugin(const RegisteredPlugin& plugin, bool with_doc) {
  std::cout << to_string(plugin.info.kind) << " " << plugin.info.name << " "
            << plugin.info.version << "  (" << plugin.library->path.string() << ")\n"
            << "  " << plugin.info.summary << "\n";
  if (with_doc && !plugin.info.doc.empty()) std::cout << "\n" << plugin.info.doc << "\n\n";
  if (plugin.info.schema.specs().empty()) std::cout << "  options: none\n";
  for (const OptionSpec& spec : plugin.info.schema.specs()) std::cout << option_line(spec) << "\n";
}

Kind parse_kind(const std::string& text) {
  if (auto kind = kind_from_string(text)) return *kind;
  std::vector<std::string> kinds;
  for (Kind kind : kAllKinds) kinds.emplace_back(to_string(kind));
  throw InputError("unknown plugin kind '" + text + "'" + did_you_mean(text, kinds) +
                   "; kinds: " + join(kinds));
}

/// The one plugin called `name`, of whichever kind.
const RegisteredPlugin& plugin_named(const Registry& registry, const std::string& name) {
  std::vector<const RegisteredPlugin*> found;
  std::vector<std::string> names;
  for (const RegisteredPlugin* plugin : registry.list()) {
    if (plugin->info.name == name) found.push_back(plugin);
    names.push_back(plugin->info.name);
  }
  if (found.size() == 1) return *found.front();
  if (found.empty()) {
    throw InputError("no plugin is called '" + name + "'" + did_you_mean(name, names) +
                     "; `vggt-lab plugins` lists them all");
  }
  std::vector<std::string> kinds;
  for (const RegisteredPlugin* plugin : found) kinds.emplace_back(to_string(plugin->info.kind));
  throw InputError("'" + name + "' is a plugin of several kinds (" + join(kinds) +
                   "): say which, as in `vggt-lab plugins show " + kinds.front() + " " + name + "`");
}

}  // namespace

int command_plugins_list(const GlobalOptions& global, const PluginsArgs& args) {
  std::optional<Kind> kind;
  if (!args.kind.empty()) kind = parse_kind(args.kind);
  Session session = open_session(global);
  auto plugins = session.host->registry().list(kind);
  if (args.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const RegisteredPlugin* plugin : plugins) out.push_back(to_json(*plugin));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (plugins.empty()) std::cout << "no plugins found\n";
  for (const RegisteredPlugin* plugin : plugins) {
    print_plugin(*plugin, false);
    std::cout << "\n";
  }
  return 0;
}

int command_plugins_show(const GlobalOptions& global, const std::string& kind,
                         const std::string& name) {
  Session session = open_session(global);
  const Registry& registry = session.host->registry();
  print_plugin(name.empty() ? plugin_named(registry, kind) : registry.get(parse_kind(kind), name), true);
  return 0;
}

int command_version() {
  std::cout << "vggt-lab " << VGGT_LAB_VERSION_STRING << "\n"
            << "plugin API " << VGGT_LAB_PLUGIN_API_VERSION << "\n"
            << "build " << VGGT_LAB_BUILD_FINGERPRINT << "\n";
  return 0;
}

}  // namespace vggt_lab
