// Reading experiment files: TOML syntax, includes, and --set overrides.
#include <toml++/toml.h>

#include <algorithm>
#include <set>

#include "host/config.hpp"
#include "host/suggest.hpp"

namespace vggt_lab {
namespace {

SourceLocation location_of(const toml::source_region& region, const std::filesystem::path& file) {
  return {file.string(), static_cast<int>(region.begin.line),
          static_cast<int>(region.begin.column)};
}

std::string at(const SourceLocation& where, const std::string& message) {
  return where.str() + ": " + message;
}

/// Converts one TOML value; nullopt (with an error recorded) if it has no
/// option type: dates, tables, mixed or nested arrays.
std::optional<OptionValue> to_option_value(const toml::node& node, const SourceLocation& where,
                                           const std::string& key,
                                           std::vector<std::string>& errors) {
  if (auto v = node.as_boolean()) return OptionValue(v->get());
  if (auto v = node.as_integer()) return OptionValue(static_cast<std::int64_t>(v->get()));
  if (auto v = node.as_floating_point()) return OptionValue(v->get());
  if (auto v = node.as_string()) return OptionValue(v->get());
  if (auto array = node.as_array()) {
    if (array->empty()) return OptionValue(std::vector<std::string>{});
    if (array->is_homogeneous(toml::node_type::integer)) {
      std::vector<std::int64_t> out;
      for (const auto& item : *array) out.push_back(item.as_integer()->get());
      return OptionValue(out);
    }
    if (array->is_homogeneous(toml::node_type::string)) {
      std::vector<std::string> out;
      for (const auto& item : *array) out.push_back(item.as_string()->get());
      return OptionValue(out);
    }
    bool numeric = true;
    std::vector<double> out;
    for (const auto& item : *array) {
      numeric = numeric && (item.is_integer() || item.is_floating_point());
      if (numeric) out.push_back(item.value<double>().value_or(0.0));
    }
    if (numeric) return OptionValue(out);
    errors.push_back(at(where, "'" + key +
                                   "' is a list of mixed or nested values; use a list of "
                                   "numbers or a list of strings"));
    return std::nullopt;
  }
  if (node.is_table()) {
    errors.push_back(at(where, "'" + key +
                                   "' is a nested table, which vggt-lab tables do not take; "
                                   "write its keys in the table itself"));
    return std::nullopt;
  }
  errors.push_back(at(where, "'" + key + "' has a type that vggt-lab options do not take"));
  return std::nullopt;
}

bool known_table(const std::string& name) {
  return core_schemas().count(name) || plugin_tables().count(name);
}

std::vector<std::string> table_names() {
  std::vector<std::string> names;
  for (const auto& [name, schema] : core_schemas()) names.push_back(name);
  for (const auto& [name, kind] : plugin_tables()) names.push_back(name);
  return names;
}

void read_table(const toml::table& table, const std::filesystem::path& file, ConfigTable& target,
                std::vector<std::string>& errors, const std::set<std::string>& skip = {}) {
  if (target.where.file.empty()) target.where = location_of(table.source(), file);
  for (const auto& [key, node] : table) {
    SourceLocation where = location_of(key.source(), file);
    std::string key_name(key.str());
    if (skip.count(key_name)) continue;
    if (auto value = to_option_value(node, where, key_name, errors)) {
      target.set(key_name, ConfigEntry{std::move(value), {}, where});
    }
  }
}

/// The experiment files in `folder`, by name.
std::vector<std::string> toml_files(const std::filesystem::path& folder) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
    if (entry.path().extension() == ".toml") names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// Why `file` cannot be read as an experiment, and the experiments near it.
std::string unreadable(const std::filesystem::path& file) {
  std::error_code error;
  if (std::filesystem::is_directory(file, error)) {
    return "'" + file.string() + "' is a folder: name an experiment file in it (" + join(toml_files(file)) + ")";
  }
  if (std::filesystem::exists(file, error)) return "cannot read experiment file '" + file.string() + "'";
  const std::string missing = "experiment file '" + file.string() + "' does not exist";
  const std::filesystem::path folder = file.has_parent_path() ? file.parent_path() : ".";
  if (!std::filesystem::is_directory(folder, error)) return missing + ", nor does the folder " + folder.string();
  const auto files = toml_files(folder);
  if (files.empty()) return missing + "; " + folder.string() + " holds no .toml file";
  if (const auto near = nearest(file.filename().string(), files)) {
    return missing + " (did you mean '" + (folder / *near).string() + "'?)";
  }
  return missing + "; " + folder.string() + " holds " + join(files);
}

class Loader {
 public:
  std::vector<std::string> errors;

  /// Merges `file` (after its includes) into `out`.
  void load(const std::filesystem::path& file, const SourceLocation& included_from,
            RawConfig& out) {
    std::filesystem::path canonical = std::filesystem::weakly_canonical(file);
    if (!std::filesystem::is_regular_file(canonical)) {
      const std::string message = unreadable(file);
      errors.push_back(included_from.file.empty() ? message : at(included_from, message));
      return;
    }
    if (std::count(stack_.begin(), stack_.end(), canonical)) {
      errors.push_back(at(included_from, "include cycle: " + cycle_text(canonical)));
      return;
    }
    toml::table root;
    try {
      root = toml::parse_file(canonical.string());
    } catch (const toml::parse_error& e) {
      errors.push_back(at(location_of(e.source(), file),
                          "TOML syntax error: " + std::string(e.description())));
      return;
    }
    stack_.push_back(canonical);
    load_includes(root, file, out);
    stack_.pop_back();
    load_tables(root, file, out);
  }

 private:
  std::vector<std::filesystem::path> stack_;

  std::string cycle_text(const std::filesystem::path& again) const {
    std::string text;
    auto start = std::find(stack_.begin(), stack_.end(), again);
    for (auto it = start; it != stack_.end(); ++it) text += it->filename().string() + " -> ";
    return text + again.filename().string();
  }

  void load_includes(const toml::table& root, const std::filesystem::path& file, RawConfig& out) {
    const toml::node* includes = root.get("include");
    if (!includes) return;
    const toml::array* list = includes->as_array();
    SourceLocation where = location_of(includes->source(), file);
    if (!list) {
      errors.push_back(at(where, "'include' must be a list of file names, e.g. include = [\"base.toml\"]"));
      return;
    }
    for (const auto& item : *list) {
      SourceLocation item_where = location_of(item.source(), file);
      auto name = item.value<std::string>();
      if (!name) {
        errors.push_back(at(item_where, "'include' entries must be strings (file names)"));
        continue;
      }
      load(file.parent_path() / *name, item_where, out);
    }
  }

  void load_tables(const toml::table& root, const std::filesystem::path& file, RawConfig& out) {
    for (const auto& [key, node] : root) {
      std::string name(key.str());
      SourceLocation where = location_of(key.source(), file);
      if (name == "include") continue;
      const toml::table* table = node.as_table();
      if (!table) {
        out.unknown.push_back({where, "unknown top-level key '" + name +
                                          "'; settings belong in a table such as [train]" +
                                          did_you_mean(name, table_names())});
      } else if (!known_table(name)) {
        out.unknown.push_back({where, "unknown table [" + name + "]" + did_you_mean(name, table_names()) +
                                          "; known tables: " + join(table_names())});
      } else {
        read_table(*table, file, out.tables[name], errors);
      }
    }
  }
};

/// The plugin name an entry writes: a TOML string, or --set's text, bare or quoted.
std::string plugin_name(const ConfigEntry& entry) {
  if (entry.value) {
    const auto* name = std::get_if<std::string>(&*entry.value);
    return name ? *name : std::string();
  }
  const std::string& text = entry.override_text;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') return text.substr(1, text.size() - 2);
  return text;
}

}  // namespace

void ConfigTable::set(const std::string& key, ConfigEntry entry) {
  auto current = entries.find("plugin");
  if (key == "plugin" && current != entries.end() && plugin_name(current->second) != plugin_name(entry)) {
    for (auto& [name, written] : entries) written.for_replaced_plugin = true;
  }
  entries[key] = std::move(entry);
}

std::string SourceLocation::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

ConfigError::ConfigError(std::vector<std::string> messages)
    : InputError(join(messages, "\n")), messages_(std::move(messages)) {}
ConfigError::~ConfigError() = default;

RawConfig load_config(const std::filesystem::path& file) {
  RawConfig config;
  config.file = file;
  Loader loader;
  loader.load(file, {}, config);
  if (!loader.errors.empty()) {  // with the unknown names too: every problem at once
    std::vector<std::string> all;
    for (const ConfigProblem& p : config.unknown) all.push_back(at(p.where, p.message));
    all.insert(all.end(), loader.errors.begin(), loader.errors.end());
    throw ConfigError(all);
  }
  return config;
}

Options read_options(const std::filesystem::path& file, const std::string& table, const OptionSchema& schema,
                     const std::set<std::string>& skip) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw ConfigError({at(location_of(e.source(), file), "TOML syntax error: " + std::string(e.description()))});
  }
  ConfigTable raw;
  raw.where = {file.string(), 0, 0};
  std::vector<std::string> errors;
  if (const toml::table* written = root[table].as_table()) read_table(*written, file, raw, errors, skip);
  if (!errors.empty()) throw ConfigError(errors);
  return resolve_table(table, raw, schema, skip);
}

void apply_override(RawConfig& config, const std::string& assignment) {
  SourceLocation where{"--set " + assignment, 0, 0};
  std::size_t eq = assignment.find('=');
  std::size_t dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 ||
      dot + 1 == eq) {
    throw ConfigError({at(where, "expected table.key=value, e.g. --set train.steps=20")});
  }
  std::string table = assignment.substr(0, dot);
  std::string key = assignment.substr(dot + 1, eq - dot - 1);
  if (!known_table(table)) {
    throw ConfigError({at(where, "unknown table [" + table + "]" + did_you_mean(table, table_names()))});
  }
  ConfigTable& target = config.tables[table];
  if (target.where.file.empty()) target.where = where;
  target.set(key, ConfigEntry{std::nullopt, assignment.substr(eq + 1), where});
}

}  // namespace vggt_lab
