// Reading sweep files: [sweep] against its schema, [axes] and exclude as settings.
#include <toml++/toml.h>

#include <algorithm>
#include <sstream>

#include "host/config.hpp"
#include "sweep/sweep.hpp"

namespace vggt_lab::sweep {
namespace {

std::string where(const toml::node& node, const std::filesystem::path& file) {
  return file.string() + ":" + std::to_string(node.source().begin.line) + ":" + std::to_string(node.source().begin.column);
}

/// A value as `--set` takes it: strings bare (typed by the schema), others as TOML writes them.
std::string toml_text(const toml::node& node) {
  if (auto s = node.as_string()) return s->get();
  std::ostringstream out;
  node.visit([&](const auto& v) { out << v; });
  return out.str();
}

/// "table.key" as written in [axes] or exclude.
std::optional<Setting> axis_key(const std::string& text) {
  const auto dot = text.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == text.size()) return std::nullopt;
  return Setting{text.substr(0, dot), text.substr(dot + 1), ""};
}

toml::table parse(const std::filesystem::path& file) {
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw InputError(file.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": TOML syntax error: " + std::string(e.description()));
  }
}

std::vector<Axis> read_axes(const toml::table& root, const std::filesystem::path& file) {
  const toml::table* axes = root["axes"].as_table();
  if (!axes || axes->empty()) {
    throw InputError(file.string() + ": needs an [axes] table, e.g. \"placement.plugin\" = [\"single\", \"pipeline\"]");
  }
  std::vector<Axis> out;
  for (const auto& [key, node] : *axes) {
    const auto setting = axis_key(std::string(key.str()));
    const toml::array* values = node.as_array();
    if (!setting || !values || values->empty()) {
      throw InputError(where(node, file) + ": axis '" + std::string(key.str()) + "' must be \"table.key\" = [values...]");
    }
    Axis& axis = out.emplace_back(Axis{setting->table, setting->key, {}, {}});
    for (const auto& v : *values) {
      axis.values.push_back(toml_text(v));
      axis.where.push_back(where(v, file));
    }
  }
  return out;
}

/// exclude = [{ "placement.plugin" = "single", "devices.count" = 4 }, ...]: keys must be axes.
std::vector<Trial> read_exclude(const toml::node& node, const std::vector<Axis>& axes, const std::filesystem::path& file) {
  const toml::array* entries = node.as_array();
  if (!entries) throw InputError(where(node, file) + ": exclude must be a list of tables, e.g. [{ \"devices.count\" = 4 }]");
  std::vector<Trial> out;
  for (const auto& entry : *entries) {
    const toml::table* t = entry.as_table();
    if (!t || t->empty()) throw InputError(where(entry, file) + ": each exclude entry is a table of axis = value");
    Trial& settings = out.emplace_back();
    for (const auto& [key, value] : *t) {
      const std::string k(key.str());
      const auto setting = axis_key(k);
      const bool axis = setting && std::any_of(axes.begin(), axes.end(), [&](const Axis& a) {
                          return a.table == setting->table && a.key == setting->key;
                        });
      if (!axis) throw InputError(where(value, file) + ": exclude names '" + k + "', which is not an axis in [axes]");
      settings.push_back({setting->table, setting->key, toml_text(value)});
    }
  }
  return out;
}

}  // namespace

const OptionSchema& sweep_schema() {
  static const OptionSchema schema = [] {
    OptionSchema s;
    s.add({"base", OptionType::string, std::nullopt, {}, {}, {},
           "The experiment every trial starts from, relative to the sweep file", {}});
    s.string("mode", "plan", "plan: the cost model only, no allocation; measure: train each trial",
             {"plan", "measure"});
    s.string("objective", "throughput", "throughput, or frames: the most frames per scene that fit",
             {"throughput", "frames"});
    s.string("memory_cap", "", "Capacity per device for every trial, such as \"80GiB\" (empty: the devices' own)")
        .with_check([](const OptionValue& v) -> std::optional<std::string> {
          const auto& text = std::get<std::string>(v);
          if (text.empty() || parse_bytes(text)) return std::nullopt;
          return "must be a size such as \"80GiB\", got \"" + text + "\"";
        });
    s.integer("steps", 3, "Measure mode: training steps per trial", 1.0);
    s.number("timeout_s", 600.0, "Measure mode: a trial running longer fails", 0.0)
        .with_check([](const OptionValue& v) -> std::optional<std::string> {
          if (std::get<double>(v) > 0) return std::nullopt;
          return "must be above 0 seconds";
        });
    s.string("search", "none", "beam: search split points beyond the grid; none: the grid alone", {"none", "beam"});
    s.integer("beam_width", 4, "Candidates the split search keeps per round", 1.0);
    s.string_list("exclude", {}, "Drop trials holding every setting of an entry: [{ \"devices.count\" = 4 }, ...]");
    return s;
  }();
  return schema;
}

SweepFile read_sweep(const std::filesystem::path& file) {
  const toml::table root = parse(file);
  if (!root["sweep"].as_table()) throw InputError(file.string() + ": needs a [sweep] table with base = \"<experiment>.toml\"");
  const Options o = read_options(file, "sweep", sweep_schema(), {"exclude"});
  SweepFile s;
  s.file = file;
  s.base = file.parent_path() / o.get<std::string>("base");
  s.mode = o.get<std::string>("mode");
  s.objective = o.get<std::string>("objective");
  s.memory_cap = parse_bytes(o.get<std::string>("memory_cap")).value_or(0);
  s.steps = o.get<std::int64_t>("steps");
  s.timeout_s = o.get<double>("timeout_s");
  s.search = o.get<std::string>("search");
  s.beam_width = o.get<std::int64_t>("beam_width");
  s.axes = read_axes(root, file);
  if (const toml::node* exclude = root["sweep"].as_table()->get("exclude")) s.exclude = read_exclude(*exclude, s.axes, file);
  if (!std::filesystem::exists(s.base)) {
    throw InputError(where(*root["sweep"]["base"].node(), file) + ": base experiment " + s.base.string() +
                     " does not exist");
  }
  return s;
}

std::vector<Trial> grid(const SweepFile& s) {
  auto excluded = [&](const Trial& trial) {
    return std::any_of(s.exclude.begin(), s.exclude.end(), [&](const Trial& entry) {
      return std::all_of(entry.begin(), entry.end(),
                         [&](const Setting& a) { return std::find(trial.begin(), trial.end(), a) != trial.end(); });
    });
  };
  std::vector<Trial> out{{}};
  for (const Axis& axis : s.axes) {
    std::vector<Trial> next;
    for (const Trial& partial : out) {
      for (const std::string& value : axis.values) {
        Trial t = partial;
        t.push_back({axis.table, axis.key, value});
        next.push_back(std::move(t));
      }
    }
    out = std::move(next);
  }
  out.erase(std::remove_if(out.begin(), out.end(), excluded), out.end());
  return out;
}

}  // namespace vggt_lab::sweep
