#include <algorithm>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/scaffolds.hpp"
#include "host/files.hpp"
#include "host/suggest.hpp"

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

const char* const kCMake = R"text(# The @NAME@ @KIND@ plugin, built against an installed vggt-lab:
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=<vggt-lab install prefix>
#   cmake --build build
# then: vggt-lab @COMMAND@ experiment.toml --plugin-path build/plugins --set @TABLE@.plugin=@NAME@
cmake_minimum_required(VERSION 3.25)
project(@ID@_@KIND@ LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
find_package(vggt_lab REQUIRED)
vggt_lab_add_plugin(@ID@ SOURCES @ID@.cpp)
)text";

const char* const kReadme = R"text(# @NAME@

A vggt-lab @KIND@ plugin. Build it against an installed vggt-lab:

    cmake -S . -B build -DCMAKE_PREFIX_PATH=<vggt-lab install prefix>
    cmake --build build

Use it by name with the plugin folder on the search path:

    vggt-lab plugins show @KIND@ @NAME@ --plugin-path build/plugins
    vggt-lab @COMMAND@ <experiment>.toml --plugin-path build/plugins --set @TABLE@.plugin=@NAME@

or in the experiment: `[@TABLE@] plugin = "@NAME@"` and
`[plugins] search_path = ["<this folder>/build/plugins"]`.
See docs/plugins.md in vggt-lab (and docs/writing-a-placement-plugin.md for
placements).
)text";

const Scaffold& scaffold_of(const std::string& kind) {
  std::vector<std::string> kinds;
  for (const Scaffold& s : scaffolds()) {
    if (s.kind == kind) return s;
    kinds.push_back(s.kind);
  }
  throw InputError("vggt-lab plugins new writes " + join(kinds) + " plugins; got kind '" + kind + "'" +
                   did_you_mean(kind, kinds) +
                   (kind == "model" ? " (a model plugin starts from plugins/models/vggt in vggt-lab's source)" : ""));
}

}  // namespace

int command_plugins_new(const GlobalOptions&, const ScaffoldArgs& args) {
  const Scaffold& scaffold = scaffold_of(args.kind);
  const bool plain = std::all_of(args.name.begin(), args.name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
  if (args.name.empty() || !std::isalpha(static_cast<unsigned char>(args.name[0])) || !plain) {
    throw InputError("plugin name '" + args.name + "' must start with a letter and hold letters, digits, '-' and '_' "
                     "only, e.g. my-" + scaffold.kind);
  }
  const std::string id = identifier(args.name);
  const auto dir = args.dir / args.name;
  if (std::filesystem::exists(dir)) throw InputError(dir.string() + " already exists; choose another --dir or name");
  std::filesystem::create_directories(dir);
  auto fill = [&](const std::string& text) {
    std::string out = text;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"@NAME@", args.name}, {"@ID@", id},
                                   {"@KIND@", scaffold.kind}, {"@TABLE@", scaffold.table},
                                   {"@COMMAND@", scaffold.command}}) {
      out = replace_all(out, from, to);
    }
    return out;
  };
  write_file_atomic(dir / "CMakeLists.txt", fill(kCMake));
  write_file_atomic(dir / (id + ".cpp"), fill(scaffold.source));
  write_file_atomic(dir / "README.md", fill(kReadme));
  std::cout << "wrote " << scaffold.kind << " plugin '" << args.name << "' to " << dir.string() << "\n"
            << "build it: cmake -S " << dir.string() << " -B " << (dir / "build").string()
            << " -DCMAKE_PREFIX_PATH=<vggt-lab install prefix> && cmake --build " << (dir / "build").string() << "\n"
            << "try it:   vggt-lab " << scaffold.command << " EXPERIMENT.toml --plugin-path "
            << (dir / "build" / "plugins").string() << " --set " << scaffold.table << ".plugin=" << args.name << "\n";
  return 0;
}

}  // namespace vggt_lab
