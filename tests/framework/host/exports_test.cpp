// Every built plugin exports exactly its entry symbol.
#include <gtest/gtest.h>

#include <sstream>

#include "host/plugin_host.hpp"
#include "support/support.hpp"

namespace vggt_lab {
namespace {

std::vector<std::string> exported_symbols(const std::filesystem::path& file) {
  auto result = testing::run_command("nm -D --defined-only '" + file.string() + "'");
  EXPECT_EQ(result.status, 0) << result.output;
  std::vector<std::string> names;
  std::istringstream lines(result.output);
  std::string address, type, name;
  while (lines >> address >> type >> name) names.push_back(name);
  return names;
}

TEST(PluginExports, EveryBuiltPluginExportsExactlyItsEntry) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(default_plugin_dir())) {
    if (entry.path().extension() == ".so") files.push_back(entry.path());
  }
  ASSERT_FALSE(files.empty()) << "no plugins in " << default_plugin_dir();
  for (const auto& file : files) {
    EXPECT_EQ(exported_symbols(file), std::vector<std::string>{"vggt_lab_plugin_entry"})
        << file;
  }
}

}  // namespace
}  // namespace vggt_lab
