#pragma once
// One function per subcommand; app.cpp only parses arguments into these.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/session.hpp"

namespace vggt_lab {

struct RunArgs {
  std::filesystem::path file;
  std::optional<std::filesystem::path> out;
  std::vector<std::string> overrides;
};
int command_run(const GlobalOptions& global, const RunArgs& args);

struct PluginsArgs {
  std::string kind;  // empty: all kinds
  bool json = false;
};
int command_plugins_list(const GlobalOptions& global, const PluginsArgs& args);
int command_plugins_show(const GlobalOptions& global, const std::string& kind,
                         const std::string& name);

struct ModelKeysArgs {
  std::string plugin = "vggt";
  std::string preset;
  std::vector<std::string> overrides;  // model.key=value
};
int command_model_keys(const GlobalOptions& global, const ModelKeysArgs& args);

struct ModelShowArgs {
  std::filesystem::path file;
  std::vector<std::string> overrides;
};
int command_model_show(const GlobalOptions& global, const ModelShowArgs& args);

struct ModelConvertArgs {
  std::filesystem::path input, output;
};
int command_model_convert(const GlobalOptions& global, const ModelConvertArgs& args);

int command_version();

}  // namespace vggt_lab
