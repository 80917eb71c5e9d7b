// The core's own tables. Defaults live here and nowhere else.
#include "host/config.hpp"

namespace vggt_lab {
namespace {

std::optional<std::string> check_memory(const OptionValue& value) {
  const auto& text = std::get<std::string>(value);
  if (text == "auto" || parse_bytes(text)) return std::nullopt;
  return "must be \"auto\" or a size such as \"80GiB\", \"512MiB\" or \"16GB\", got \"" + text + "\"";
}

std::map<std::string, OptionSchema> make_core_schemas() {
  std::map<std::string, OptionSchema> schemas;
  schemas["experiment"]
      .string("name", "", "Name of the experiment; empty means the file name without .toml")
      .string("description", "", "Free text, copied into the run folder")
      .integer("seed", 42, "Seed for every random number generator of the run", 0.0);
  schemas["devices"]
      .integer("count", 1, "Number of logical devices a plan places onto", 1.0, 1024.0)
      .string("physical", "auto",
              "Where logical devices live: auto (cuda:i when enough GPUs exist, else shared), "
              "cpu, or cuda",
              {"auto", "cpu", "cuda"})
      .string("memory", "auto", "Capacity per logical device: auto (from the device) or a size")
      .with_check(check_memory);
  schemas["train"]
      .integer("steps", 100, "Optimizer steps to run", 1.0)
      .integer("log_every", 10, "Steps between log lines", 1.0);
  schemas["distributed"]
      .string("backend", "auto", "c10d backend: auto (nccl on GPUs, gloo on CPUs), nccl or gloo",
              {"auto", "nccl", "gloo"})
      .number("timeout_s", 1800.0, "Collective timeout in seconds", 1.0);
  schemas["output"].string("dir", "runs",
                           "Folder that holds run folders when --out is not given; relative "
                           "paths are relative to the current folder");
  schemas["plugins"].string_list(
      "search_path", {}, "Extra plugin folders, relative to the file that names them");
  return schemas;
}

}  // namespace

const std::map<std::string, OptionSchema>& core_schemas() {
  static const std::map<std::string, OptionSchema> schemas = make_core_schemas();
  return schemas;
}

const std::map<std::string, Kind>& plugin_tables() {
  static const std::map<std::string, Kind> tables = {{"model", Kind::model},
                                                     {"placement", Kind::placement},
                                                     {"gradient", Kind::gradient},
                                                     {"optim", Kind::optimizer},
                                                     {"data", Kind::data}};
  return tables;
}

}  // namespace vggt_lab
