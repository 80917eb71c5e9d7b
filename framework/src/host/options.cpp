#include "vggt_lab/options.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

#include "vggt_lab/error.hpp"

namespace vggt_lab {

const char* to_string(OptionType type) {
  switch (type) {
    case OptionType::boolean: return "boolean";
    case OptionType::integer: return "integer";
    case OptionType::number: return "number";
    case OptionType::string: return "string";
    case OptionType::integer_list: return "list of integers";
    case OptionType::number_list: return "list of numbers";
    case OptionType::string_list: return "list of strings";
  }
  return "?";
}

OptionSchema& OptionSchema::add(OptionSpec spec) {
  specs_.push_back(std::move(spec));
  return *this;
}

OptionSchema& OptionSchema::boolean(std::string key, bool def, std::string doc) {
  return add({std::move(key), OptionType::boolean, def, {}, {}, {}, std::move(doc), {}});
}

OptionSchema& OptionSchema::integer(std::string key, std::int64_t def, std::string doc,
                                    std::optional<double> min, std::optional<double> max) {
  return add({std::move(key), OptionType::integer, def, min, max, {}, std::move(doc), {}});
}

OptionSchema& OptionSchema::number(std::string key, double def, std::string doc,
                                   std::optional<double> min, std::optional<double> max) {
  return add({std::move(key), OptionType::number, def, min, max, {}, std::move(doc), {}});
}

OptionSchema& OptionSchema::string(std::string key, std::string def, std::string doc,
                                   std::vector<std::string> choices) {
  return add({std::move(key), OptionType::string, std::move(def), {}, {}, std::move(choices),
              std::move(doc), {}});
}

OptionSchema& OptionSchema::string_list(std::string key, std::vector<std::string> def,
                                        std::string doc, std::vector<std::string> choices) {
  return add({std::move(key), OptionType::string_list, std::move(def), {}, {}, std::move(choices),
              std::move(doc), {}});
}

OptionSchema& OptionSchema::integer_list(std::string key, std::vector<std::int64_t> def,
                                         std::string doc, std::optional<double> min,
                                         std::optional<double> max) {
  return add({std::move(key), OptionType::integer_list, std::move(def), min, max, {},
              std::move(doc), {}});
}

OptionSchema& OptionSchema::number_list(std::string key, std::vector<double> def, std::string doc,
                                        std::optional<double> min, std::optional<double> max) {
  return add({std::move(key), OptionType::number_list, std::move(def), min, max, {},
              std::move(doc), {}});
}

OptionSchema& OptionSchema::with_check(OptionCheck check) {
  if (specs_.empty()) throw Error("OptionSchema::with_check called before any key was added");
  specs_.back().check = std::move(check);
  return *this;
}

OptionSchema& OptionSchema::as_path() {
  if (specs_.empty()) throw Error("OptionSchema::as_path called before any key was added");
  OptionSpec& spec = specs_.back();
  if (spec.type != OptionType::string && spec.type != OptionType::string_list) {
    throw Error("OptionSchema::as_path: '" + spec.key + "' is not a string or string list");
  }
  spec.path = true;
  return *this;
}

const OptionSpec* OptionSchema::find(const std::string& key) const {
  for (const OptionSpec& spec : specs_) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

std::vector<std::string> OptionSchema::keys() const {
  std::vector<std::string> out;
  for (const OptionSpec& spec : specs_) out.push_back(spec.key);
  return out;
}

void Options::set(const std::string& key, OptionValue value) { values_[key] = std::move(value); }

bool Options::has(const std::string& key) const { return values_.count(key) != 0; }

const OptionValue& Options::at(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw Error("option '" + key + "' is not set (is it in the schema?)");
  return it->second;
}

void Options::throw_wrong_type(const std::string& key) const {
  throw Error("option '" + key + "' was read with a type other than its schema's (value " +
              format_value(at(key)) + ")");
}

namespace {

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

/// The shortest text that reads back as the same double.
std::string format_number(double value) {
  char buffer[64];
  auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  std::string text(buffer, end);
  bool integral = text.find_first_of(".eEn") == std::string::npos;
  return integral ? text + ".0" : text;
}

template <class T, class F>
std::string format_list(const std::vector<T>& items, F&& format_one) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + format_one(items[i]);
  return out + "]";
}

}  // namespace

std::string format_value(const OptionValue& value) {
  struct Visitor {
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const { return format_number(v); }
    std::string operator()(const std::string& v) const { return quote(v); }
    std::string operator()(const std::vector<std::int64_t>& v) const {
      return format_list(v, [](std::int64_t x) { return std::to_string(x); });
    }
    std::string operator()(const std::vector<double>& v) const {
      return format_list(v, format_number);
    }
    std::string operator()(const std::vector<std::string>& v) const { return format_list(v, quote); }
  };
  return std::visit(Visitor{}, value);
}

OptionCheck strictly_increasing() {
  return [](const OptionValue& value) -> std::optional<std::string> {
    std::vector<double> numbers;
    if (const auto* ints = std::get_if<std::vector<std::int64_t>>(&value)) numbers.assign(ints->begin(), ints->end());
    if (const auto* reals = std::get_if<std::vector<double>>(&value)) numbers = *reals;
    for (std::size_t i = 1; i < numbers.size(); ++i) {
      if (numbers[i] <= numbers[i - 1]) return "must be strictly increasing, got " + format_value(value);
    }
    return std::nullopt;
  };
}

std::optional<std::int64_t> parse_bytes(const std::string& text) {
  std::size_t pos = 0;
  double number = 0;
  try {
    number = std::stod(text, &pos);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(pos);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1.0},      {"B", 1.0},     {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}, {"KB", 1e3}, {"MB", 1e6},  {"GB", 1e9},       {"TB", 1e12}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name && number >= 0 && std::isfinite(number)) {
      return static_cast<std::int64_t>(std::llround(number * scale));
    }
  }
  return std::nullopt;
}

}  // namespace vggt_lab
