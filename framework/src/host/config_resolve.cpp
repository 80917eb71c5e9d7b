// Validating a RawConfig against the schemas, and writing it back as TOML.
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>
#include <sstream>

#include "host/config.hpp"
#include "host/suggest.hpp"

namespace vggt_lab {
namespace {

struct Problem {
  std::string message;  // without location
};

struct Located {
  SourceLocation where;
  std::string message;
};

/// Messages in file order, each prefixed with its location.
std::vector<std::string> ordered(std::vector<Located> errors) {
  std::stable_sort(errors.begin(), errors.end(), [](const Located& a, const Located& b) {
    return std::tie(a.where.file, a.where.line, a.where.column) <
           std::tie(b.where.file, b.where.line, b.where.column);
  });
  std::vector<std::string> out;
  for (const Located& e : errors) out.push_back(e.where.str() + ": " + e.message);
  return out;
}

std::string describe(const OptionValue& value) {
  static const char* kNames[] = {"a boolean", "an integer", "a number", "a string",
                                 "a list of integers", "a list of numbers", "a list of strings"};
  return std::string(kNames[value.index()]) + " (" + format_value(value) + ")";
}

std::string expected(const OptionSpec& spec) {
  std::string type = to_string(spec.type);
  bool vowel = type[0] == 'i';
  return (vowel ? "an " : "a ") + type;
}

/// Converts a TOML value to the spec's type: integers widen to numbers, an
/// empty list fits any list type.
std::optional<OptionValue> convert(const OptionValue& value, const OptionSpec& spec) {
  const auto* ints = std::get_if<std::vector<std::int64_t>>(&value);
  const auto* strings = std::get_if<std::vector<std::string>>(&value);
  bool empty_list = strings && strings->empty();
  switch (spec.type) {
    case OptionType::boolean:
      if (std::holds_alternative<bool>(value)) return value;
      break;
    case OptionType::integer:
      if (std::holds_alternative<std::int64_t>(value)) return value;
      break;
    case OptionType::number:
      if (auto v = std::get_if<std::int64_t>(&value)) return OptionValue(static_cast<double>(*v));
      if (std::holds_alternative<double>(value)) return value;
      break;
    case OptionType::string:
      if (std::holds_alternative<std::string>(value)) return value;
      break;
    case OptionType::integer_list:
      if (ints) return value;
      if (empty_list) return OptionValue(std::vector<std::int64_t>{});
      break;
    case OptionType::number_list:
      if (ints) return OptionValue(std::vector<double>(ints->begin(), ints->end()));
      if (std::holds_alternative<std::vector<double>>(value)) return value;
      if (empty_list) return OptionValue(std::vector<double>{});
      break;
    case OptionType::string_list:
      if (strings) return value;
      break;
  }
  return std::nullopt;
}

std::vector<double> numbers_in(const OptionValue& value) {
  if (auto v = std::get_if<std::int64_t>(&value)) return {static_cast<double>(*v)};
  if (auto v = std::get_if<double>(&value)) return {*v};
  if (auto v = std::get_if<std::vector<std::int64_t>>(&value)) return {v->begin(), v->end()};
  if (auto v = std::get_if<std::vector<double>>(&value)) return *v;
  return {};
}

std::vector<std::string> strings_in(const OptionValue& value) {
  if (auto v = std::get_if<std::string>(&value)) return {*v};
  if (auto v = std::get_if<std::vector<std::string>>(&value)) return *v;
  return {};
}

std::string number_text(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

std::optional<Problem> check_bounds(const OptionValue& value, const OptionSpec& spec) {
  for (double x : numbers_in(value)) {
    if (!std::isfinite(x)) return Problem{"must be a finite number"};
    if (spec.min && x < *spec.min) {
      return Problem{"must be at least " + number_text(*spec.min) + ", got " + number_text(x)};
    }
    if (spec.max && x > *spec.max) {
      return Problem{"must be at most " + number_text(*spec.max) + ", got " + number_text(x)};
    }
  }
  if (spec.choices.empty()) return std::nullopt;
  for (const std::string& s : strings_in(value)) {
    if (std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end()) {
      return Problem{"must be one of " + join(spec.choices) + ", got \"" + s + "\"" +
                     did_you_mean(s, spec.choices)};
    }
  }
  return std::nullopt;
}

std::optional<OptionValue> list_value(const toml::array& array) {
  std::vector<std::string> strings;
  std::vector<std::int64_t> ints;
  std::vector<double> numbers;
  for (const auto& item : array) {
    if (auto v = item.as_string()) strings.push_back(v->get());
    if (auto v = item.as_integer()) ints.push_back(v->get());
    if (auto v = item.value<double>(); v && (item.is_integer() || item.is_floating_point())) {
      numbers.push_back(*v);
    }
  }
  if (strings.size() == array.size()) return OptionValue(strings);
  if (ints.size() == array.size()) return OptionValue(ints);
  if (numbers.size() == array.size()) return OptionValue(numbers);
  return std::nullopt;
}

/// Types the text of a --set override by the schema: a string may be written
/// bare (--set model.preset=tiny); anything else is read as a TOML value.
std::optional<OptionValue> parse_override(const std::string& text, const OptionSpec& spec) {
  bool quoted = !text.empty() && (text.front() == '"' || text.front() == '\'');
  if (spec.type == OptionType::string && !quoted) return OptionValue(text);
  try {
    toml::table parsed = toml::parse("v = " + text);
    const toml::node& node = *parsed.get("v");
    if (auto v = node.as_boolean()) return OptionValue(v->get());
    if (auto v = node.as_integer()) return OptionValue(static_cast<std::int64_t>(v->get()));
    if (auto v = node.as_floating_point()) return OptionValue(v->get());
    if (auto v = node.as_string()) return OptionValue(v->get());
    if (const toml::array* array = node.as_array()) return list_value(*array);
  } catch (const toml::parse_error&) {
  }
  return std::nullopt;
}

/// A path as the file (or --set) that wrote it means it: "~/" from $HOME,
/// a relative one from the folder of that file (the current folder for --set).
std::string absolute_path(const std::string& text, const SourceLocation& where) {
  if (text.empty()) return text;
  const char* home = std::getenv("HOME");
  if (text.rfind("~/", 0) == 0 && home) return (std::filesystem::path(home) / text.substr(2)).string();
  const std::filesystem::path path(text);
  if (path.is_absolute()) return text;
  const std::filesystem::path base = where.line > 0 ? std::filesystem::path(where.file).parent_path()
                                                    : std::filesystem::current_path();
  return std::filesystem::absolute(base / path).lexically_normal().string();
}

void resolve_paths(OptionValue& value, const SourceLocation& where) {
  if (auto* text = std::get_if<std::string>(&value)) *text = absolute_path(*text, where);
  if (auto* list = std::get_if<std::vector<std::string>>(&value)) {
    for (auto& text : *list) text = absolute_path(text, where);
  }
}

class Validator {
 public:
  std::vector<Located> errors;

  Options table(const std::string& name, const ConfigTable* raw, const OptionSchema& schema,
                const std::set<std::string>& skip = {}) {
    Options options;
    if (raw) {
      for (const auto& [key, entry] : raw->entries) {
        if (!skip.count(key)) read_entry(name, key, entry, schema, options);
      }
    }
    for (const OptionSpec& spec : schema.specs()) {
      if (options.has(spec.key)) continue;
      if (spec.default_value) {
        options.set(spec.key, *spec.default_value);
      } else if (!skip.count(spec.key)) {
        SourceLocation where = raw ? raw->where : SourceLocation{};
        errors.push_back({where, "[" + name + "] is missing required key '" + spec.key +
                                   "' (" + expected(spec) + ": " + spec.doc + ")"});
      }
    }
    return options;
  }

 private:
  void read_entry(const std::string& table, const std::string& key, const ConfigEntry& entry,
                  const OptionSchema& schema, Options& options) {
    auto fail = [&](const std::string& message) {
      errors.push_back({entry.where, message});
    };
    const OptionSpec* spec = schema.find(key);
    if (!spec) {
      fail("unknown key '" + key + "' in [" + table + "]" + did_you_mean(key, schema.keys()) +
           "; valid keys: " + join(schema.keys()));
      return;
    }
    std::optional<OptionValue> raw =
        entry.value ? entry.value : parse_override(entry.override_text, *spec);
    if (!raw) {
      fail("cannot read '" + entry.override_text + "' as " + expected(*spec) + " for '" + key +
           "' in [" + table + "]");
      return;
    }
    std::optional<OptionValue> value = convert(*raw, *spec);
    if (!value) {
      fail("'" + key + "' in [" + table + "] must be " + expected(*spec) + ", got " +
           describe(*raw));
      return;
    }
    std::optional<Problem> problem = check_bounds(*value, *spec);
    if (!problem && spec->check) {
      if (auto message = spec->check(*value)) problem = Problem{*message};
    }
    if (problem) {
      fail("'" + key + "' in [" + table + "] " + problem->message);
      return;
    }
    if (spec->path) resolve_paths(*value, entry.where);
    options.set(key, std::move(*value));
  }
};

const ConfigTable* find_table(const RawConfig& config, const std::string& name) {
  auto it = config.tables.find(name);
  return it == config.tables.end() ? nullptr : &it->second;
}

/// The `plugin = "name"` of a plugin table, checked against the registry.
const RegisteredPlugin* plugin_of(const std::string& table, Kind kind, const ConfigTable& raw,
                                  const Registry& registry, std::vector<Located>& errors) {
  std::vector<std::string> available = registry.names(kind);
  auto it = raw.entries.find("plugin");
  if (it == raw.entries.end()) {
    errors.push_back({raw.where, "[" + table + "] needs plugin = \"<name>\"; available " +
                                   std::string(to_string(kind)) + " plugins: " + join(available)});
    return nullptr;
  }
  const ConfigEntry& entry = it->second;
  OptionSpec spec{"plugin", OptionType::string, {}, {}, {}, {}, "", {}};
  std::optional<OptionValue> written =
      entry.value ? entry.value : parse_override(entry.override_text, spec);
  std::optional<OptionValue> value = written ? convert(*written, spec) : std::nullopt;
  if (!value) {
    errors.push_back({entry.where, "'plugin' in [" + table + "] must be a string" +
                                       (written ? ", got " + describe(*written) : std::string())});
    return nullptr;
  }
  const std::string& name = std::get<std::string>(*value);
  if (const RegisteredPlugin* plugin = registry.find(kind, name)) return plugin;
  errors.push_back({entry.where, "unknown " + std::string(to_string(kind)) + " plugin '" + name +
                                     "' in [" + table + "]" + did_you_mean(name, available) +
                                     "; available: " + join(available) +
                                     " (see `vggt-lab plugins`)"});
  return nullptr;
}

/// A plugin table less the entries written for a plugin a later file or
/// --set replaced that the chosen plugin does not take.
ConfigTable taken_by(const ConfigTable& raw, const OptionSchema& schema) {
  ConfigTable out = raw;
  for (auto it = out.entries.begin(); it != out.entries.end();) {
    const bool dropped = it->second.for_replaced_plugin && it->first != "plugin" && !schema.find(it->first);
    it = dropped ? out.entries.erase(it) : std::next(it);
  }
  return out;
}

/// [train] settings that must agree with one another.
void check_train(const RawConfig& config, const Options& train, std::vector<Located>& errors) {
  const std::int64_t patch = train.get<std::int64_t>("patch_size");
  for (const char* key : {"image_height", "image_width"}) {
    const std::int64_t pixels = train.get<std::int64_t>(key);
    if (pixels % patch == 0) continue;
    errors.push_back({where_written(config, "train", key),
                      "'" + std::string(key) + "' in [train] must be a multiple of patch_size " +
                          std::to_string(patch) + ", got " + std::to_string(pixels) + "; the nearest are " +
                          std::to_string(std::max(patch, pixels / patch * patch)) + " and " +
                          std::to_string((pixels / patch + 1) * patch)});
  }
  const std::int64_t frames = train.get<std::int64_t>("frames"), fewest = train.get<std::int64_t>("min_frames");
  if (fewest > frames) {
    errors.push_back({where_written(config, "train", "min_frames"),
                      "'min_frames' in [train] (" + std::to_string(fewest) + ") must be at most frames (" +
                          std::to_string(frames) + ")"});
  }
  const double low = train.get<double>("min_aspect"), high = train.get<double>("max_aspect");
  if (low > high) {
    errors.push_back({where_written(config, "train", "min_aspect"),
                      "'min_aspect' in [train] (" + number_text(low) + ") must be at most max_aspect (" +
                          number_text(high) + ")"});
  }
}

}  // namespace

SourceLocation where_written(const RawConfig& config, const std::string& table, const std::string& key) {
  const ConfigTable* raw = find_table(config, table);
  if (!raw) return {config.file.string()};
  auto entry = raw->entries.find(key);
  return entry != raw->entries.end() ? entry->second.where : raw->where;
}

const Options& ResolvedConfig::core(const std::string& table) const {
  auto it = tables.find(table);
  if (it == tables.end() || !it->second.plugin.empty()) {
    throw Error("no core table [" + table + "] in the resolved configuration");
  }
  return it->second.options;
}

std::optional<std::string> ResolvedConfig::plugin(const std::string& table) const {
  auto it = tables.find(table);
  if (it == tables.end() || it->second.plugin.empty()) return std::nullopt;
  return it->second.plugin;
}

const Options& ResolvedConfig::plugin_options(const std::string& table) const {
  auto it = tables.find(table);
  if (it == tables.end() || it->second.plugin.empty()) {
    throw InputError(file.string() + ": the experiment has no [" + table +
                     "] table; add one with plugin = \"<name>\"");
  }
  return it->second.options;
}

std::string ResolvedConfig::to_toml() const {
  std::string out = "# Resolved by vggt-lab from " + file.string() +
                    ": defaults filled, includes and overrides applied.\n";
  for (const auto& [name, table] : tables) {
    out += "\n[" + name + "]\n";
    if (!table.plugin.empty()) out += "plugin = " + format_value(table.plugin) + "\n";
    for (const auto& [key, value] : table.options.values()) {
      out += key + " = " + format_value(value) + "\n";
    }
  }
  return out;
}

std::vector<std::filesystem::path> config_search_path(const RawConfig& config) {
  Validator validator;
  const ConfigTable* raw = find_table(config, "plugins");
  Options options = validator.table("plugins", raw, core_schemas().at("plugins"));
  if (!validator.errors.empty()) throw ConfigError(ordered(validator.errors));
  const auto dirs = options.get<std::vector<std::string>>("search_path");  // absolute: a path option
  return {dirs.begin(), dirs.end()};
}

Options resolve_table(const std::string& name, const ConfigTable& raw, const OptionSchema& schema,
                      const std::set<std::string>& skip) {
  Validator validator;
  Options options = validator.table(name, &raw, schema, skip);
  if (!validator.errors.empty()) throw ConfigError(ordered(validator.errors));
  return options;
}

ResolvedConfig resolve_config(const RawConfig& config, const Registry& registry) {
  ResolvedConfig resolved;
  resolved.file = config.file;
  Validator validator;
  for (const auto& [name, schema] : core_schemas()) {
    resolved.tables[name] = {"", validator.table(name, find_table(config, name), schema)};
  }
  for (const auto& [name, kind] : plugin_tables()) {
    const ConfigTable* raw = find_table(config, name);
    if (!raw) continue;
    const RegisteredPlugin* plugin = plugin_of(name, kind, *raw, registry, validator.errors);
    if (!plugin) continue;
    const ConfigTable kept = taken_by(*raw, plugin->info.schema);
    resolved.tables[name] = {plugin->info.name,
                             validator.table(name, &kept, plugin->info.schema, {"plugin"})};
  }
  for (const ConfigProblem& p : config.unknown) validator.errors.push_back({p.where, p.message});
  check_train(config, resolved.core("train"), validator.errors);
  if (!validator.errors.empty()) throw ConfigError(ordered(validator.errors));
  Options& experiment = resolved.tables["experiment"].options;
  if (experiment.get<std::string>("name").empty()) {
    experiment.set("name", config.file.stem().string());
  }
  return resolved;
}

}  // namespace vggt_lab
