#include <iostream>

#include "cli/commands.hpp"
#include "host/files.hpp"

namespace vggt_lab {
namespace {

std::string identifier(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '_';
  return out;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

const char* const kCMake = R"text(# The @NAME@ placement plugin, built against an installed vggt-lab:
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=<vggt-lab install prefix>
#   cmake --build build
# then: vggt-lab plan experiment.toml --plugin-path build/plugins
cmake_minimum_required(VERSION 3.25)
project(@ID@_placement LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(vggt_lab REQUIRED)
vggt_lab_add_plugin(@ID@ SOURCES @ID@.cpp)
)text";

const char* const kSource = R"text(// `@NAME@`: a placement strategy. A placement is a pure function of the
// model's unit graph (with costs), the logical devices and the memory model;
// the runtime does everything that touches devices.
//
// This starting point cuts the units, in graph order, into `stages`
// contiguous runs of about equal count, one per device. Judge your own ideas
// with vggt_lab::predicted_memory() (the formula every strategy is held to).
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class Strategy : public vggt_lab::Placement {
 public:
  explicit Strategy(int stages) : stages_(stages) {}

  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    const auto& units = problem.graph.units;
    const int devices = static_cast<int>(problem.topology.devices.size());
    const int stages = std::max(1, std::min({stages_ > 0 ? stages_ : devices, devices, int(units.size())}));
    vggt_lab::Plan plan;
    plan.strategy = "@NAME@";
    for (int s = 0; s < stages; ++s) {
      vggt_lab::Stage stage{s, {}, {}};  // third: devices that share its frames (docs/writing-a-placement-plugin.md)
      for (std::size_t u = units.size() * s / stages; u < units.size() * (s + 1) / stages; ++u) {
        stage.units.push_back(units[u].name);
      }
      plan.stages.push_back(stage);
    }
    return plan;
  }

 private:
  int stages_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "@NAME@";
  info.version = "0.1";
  info.summary = "Units in graph order, split evenly over the devices";
  info.schema.integer("stages", 0, "Stages (0: one per logical device)", 0.0);
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<Strategy>(static_cast<int>(options.get<std::int64_t>("stages")));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "@NAME@", "0.1", register_plugins)
)text";

const char* const kReadme = R"text(# @NAME@

A vggt-lab placement plugin. Build it against an installed vggt-lab:

    cmake -S . -B build -DCMAKE_PREFIX_PATH=<vggt-lab install prefix>
    cmake --build build

Use it by name with the plugin folder on the search path:

    vggt-lab plugins show placement @NAME@ --plugin-path build/plugins
    vggt-lab plan <experiment>.toml --plugin-path build/plugins --set placement.plugin=@NAME@

or in the experiment: `[placement] plugin = "@NAME@"` and
`[plugins] search_path = ["<this folder>/build/plugins"]`.
See docs/writing-a-placement-plugin.md in vggt-lab for the walk-through.
)text";

}  // namespace

int command_plugins_new(const GlobalOptions&, const ScaffoldArgs& args) {
  if (args.kind != "placement") {
    throw InputError("vggt-lab plugins new makes placement plugins for now; got kind '" + args.kind + "'");
  }
  if (args.name.empty() || !std::isalpha(static_cast<unsigned char>(args.name[0]))) {
    throw InputError("plugin name '" + args.name + "' must start with a letter, e.g. my-layout");
  }
  const std::string id = identifier(args.name);
  const auto dir = args.dir / args.name;
  if (std::filesystem::exists(dir)) throw InputError(dir.string() + " already exists; choose another --dir or name");
  std::filesystem::create_directories(dir);
  auto fill = [&](const char* text) { return replace_all(replace_all(text, "@NAME@", args.name), "@ID@", id); };
  write_file_atomic(dir / "CMakeLists.txt", fill(kCMake));
  write_file_atomic(dir / (id + ".cpp"), fill(kSource));
  write_file_atomic(dir / "README.md", fill(kReadme));
  std::cout << "wrote placement plugin '" << args.name << "' to " << dir.string() << "\n"
            << "build it: cmake -S " << dir.string() << " -B " << (dir / "build").string()
            << " -DCMAKE_PREFIX_PATH=<vggt-lab install prefix> && cmake --build " << (dir / "build").string() << "\n";
  return 0;
}

}  // namespace vggt_lab
