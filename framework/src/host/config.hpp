#pragma once
// Experiment files: TOML with `include`, `--set` overrides, and validation
// against the core's and the plugins' option schemas. Every error reads
// `file:line:col: message`; all of them are reported at once.
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "host/registry.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/options.hpp"

namespace vggt_lab {

struct VGGT_LAB_API SourceLocation {
  std::string file;  // or "--set table.key=value" for overrides
  int line = 0;      // 0: no position within `file`
  int column = 0;
  std::string str() const;
};

/// One key as written: a TOML value, or the text of a `--set` override that
/// is typed once the schema is known.
struct ConfigEntry {
  std::optional<OptionValue> value;
  std::string override_text;
  SourceLocation where;
  bool for_replaced_plugin = false;  // written before a later file or --set chose another plugin
};

struct ConfigTable {
  SourceLocation where;
  std::map<std::string, ConfigEntry> entries;
  /// Sets `key`; a `plugin` other than the one written so far marks the
  /// entries written for that one, which resolution drops where the new
  /// plugin does not take them.
  void set(const std::string& key, ConfigEntry entry);
};

struct ConfigProblem {
  SourceLocation where;
  std::string message;
};

/// A parsed experiment with its includes merged, not yet validated.
struct RawConfig {
  std::filesystem::path file;
  std::map<std::string, ConfigTable> tables;
  std::vector<ConfigProblem> unknown;  // unknown tables and top-level keys, reported by resolve_config
};

/// Bad configuration: one message per problem, each with its location.
class VGGT_LAB_API ConfigError : public InputError {
 public:
  explicit ConfigError(std::vector<std::string> messages);
  ~ConfigError() override;
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
};

struct ResolvedTable {
  std::string plugin;  // empty for the core's own tables
  Options options;
};

/// The validated configuration: every table of the core with defaults filled,
/// and each plugin table that the experiment names.
struct VGGT_LAB_API ResolvedConfig {
  std::filesystem::path file;
  std::map<std::string, ResolvedTable> tables;

  const Options& core(const std::string& table) const;
  /// The plugin a plugin table names, if the experiment has that table.
  std::optional<std::string> plugin(const std::string& table) const;
  const Options& plugin_options(const std::string& table) const;
  /// The configuration as TOML, so a run can be reproduced from its folder.
  std::string to_toml() const;
};

/// The plugin object the experiment's [table] names. An InputError says how
/// to add the table when the experiment lacks it.
template <class Interface>
PluginObject<Interface> create_plugin(const ResolvedConfig& config, const std::string& table,
                                      const Registry& registry, const PluginContext& context) {
  auto name = config.plugin(table);
  if (!name) {
    throw InputError(config.file.string() + ": the experiment has no [" + table + "] table; add one with plugin = " +
                     "\"<name>\" (`vggt-lab plugins --kind " + std::string(to_string(Interface::kKind)) +
                     "` lists them)");
  }
  return registry.create<Interface>(*name, config.plugin_options(table), context);
}

/// Where [table] key was written: the entry (file:line:col, or its --set),
/// else the table, else the file.
VGGT_LAB_API SourceLocation where_written(const RawConfig& config, const std::string& table, const std::string& key);

/// Reads `file` and its includes. Throws ConfigError.
VGGT_LAB_API RawConfig load_config(const std::filesystem::path& file);

/// Applies `table.key=value`; the value is typed later, by the schema.
/// Throws ConfigError for a malformed assignment.
VGGT_LAB_API void apply_override(RawConfig& config, const std::string& assignment);

/// [plugins].search_path, each folder relative to the file that named it.
VGGT_LAB_API std::vector<std::filesystem::path> config_search_path(const RawConfig& config);

/// Validates every table against its schema. Throws ConfigError.
VGGT_LAB_API ResolvedConfig resolve_config(const RawConfig& config, const Registry& registry);

/// One table validated against `schema` as an experiment's are, defaults
/// filled; keys in `skip` are left to the caller. Throws ConfigError.
VGGT_LAB_API Options resolve_table(const std::string& name, const ConfigTable& raw, const OptionSchema& schema,
                                   const std::set<std::string>& skip = {});

/// [table] of a TOML file that is not an experiment (a sweep file), read and
/// validated like an experiment's tables: errors name file:line:col and
/// suggest the key meant. Throws ConfigError.
VGGT_LAB_API Options read_options(const std::filesystem::path& file, const std::string& table,
                                  const OptionSchema& schema, const std::set<std::string>& skip = {});

/// The core's tables and their schemas; the plugin tables and their kinds.
VGGT_LAB_API const std::map<std::string, OptionSchema>& core_schemas();
VGGT_LAB_API const std::map<std::string, Kind>& plugin_tables();

}  // namespace vggt_lab
