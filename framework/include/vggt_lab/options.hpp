#pragma once
// Option schemas: each plugin factory (and the core, for its own tables)
// publishes the keys it accepts with type, default, range and doc. The host
// validates a TOML table against the schema before the plugin sees it, so
// plugin code may assume well-formed Options.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

enum class OptionType { boolean, integer, number, string, integer_list, number_list, string_list };

VGGT_LAB_API const char* to_string(OptionType type);

using OptionValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                 std::vector<double>, std::vector<std::string>>;

/// A custom check on a well-typed value; returns an error message, or nothing.
using OptionCheck = std::function<std::optional<std::string>(const OptionValue&)>;

struct OptionSpec {
  std::string key;
  OptionType type = OptionType::string;
  std::optional<OptionValue> default_value;  // nullopt: the key is required
  std::optional<double> min;                 // numbers and list elements
  std::optional<double> max;
  std::vector<std::string> choices;          // strings and string-list elements
  std::string doc;
  OptionCheck check;
  bool path = false;  // strings naming files or folders, see OptionSchema::as_path
};

class VGGT_LAB_API OptionSchema {
 public:
  OptionSchema& add(OptionSpec spec);

  OptionSchema& boolean(std::string key, bool def, std::string doc);
  OptionSchema& integer(std::string key, std::int64_t def, std::string doc,
                        std::optional<double> min = std::nullopt,
                        std::optional<double> max = std::nullopt);
  OptionSchema& number(std::string key, double def, std::string doc,
                       std::optional<double> min = std::nullopt,
                       std::optional<double> max = std::nullopt);
  OptionSchema& string(std::string key, std::string def, std::string doc,
                       std::vector<std::string> choices = {});
  OptionSchema& string_list(std::string key, std::vector<std::string> def, std::string doc,
                            std::vector<std::string> choices = {});
  OptionSchema& integer_list(std::string key, std::vector<std::int64_t> def, std::string doc,
                             std::optional<double> min = std::nullopt,
                             std::optional<double> max = std::nullopt);
  OptionSchema& number_list(std::string key, std::vector<double> def, std::string doc,
                            std::optional<double> min = std::nullopt,
                            std::optional<double> max = std::nullopt);

  /// Attaches a custom check to the most recently added key.
  OptionSchema& with_check(OptionCheck check);
  /// Marks the most recently added key (a string or string list) as naming
  /// files or folders: a relative one is read from the folder of the file
  /// that writes it (the current folder for --set), "~/" from $HOME, and the
  /// plugin and config.resolved.toml get it absolute.
  OptionSchema& as_path();

  const OptionSpec* find(const std::string& key) const;
  const std::vector<OptionSpec>& specs() const { return specs_; }
  std::vector<std::string> keys() const;

 private:
  std::vector<OptionSpec> specs_;
};

/// Validated option values of one table, every schema key present.
class VGGT_LAB_API Options {
 public:
  void set(const std::string& key, OptionValue value);
  bool has(const std::string& key) const;
  const OptionValue& at(const std::string& key) const;
  const std::map<std::string, OptionValue>& values() const { return values_; }

  template <class T>
  const T& get(const std::string& key) const {
    const OptionValue& value = at(key);
    if (const T* typed = std::get_if<T>(&value)) return *typed;
    throw_wrong_type(key);
  }

 private:
  [[noreturn]] void throw_wrong_type(const std::string& key) const;
  std::map<std::string, OptionValue> values_;
};

/// A check for a number list: each element above the one before (split
/// points, layer indices).
VGGT_LAB_API OptionCheck strictly_increasing();

/// Renders a value as TOML would write it: 3, 0.5, "tiny", [1, 2].
VGGT_LAB_API std::string format_value(const OptionValue& value);

/// Parses byte sizes such as "80GiB", "512MiB", "1.5GB" or "4096".
VGGT_LAB_API std::optional<std::int64_t> parse_bytes(const std::string& text);

}  // namespace vggt_lab
