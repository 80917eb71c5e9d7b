// docs/configuration.md is written by hand from the core schema: it must list
// every key with its doc string, and no key the schema does not have.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

#include "host/config.hpp"

namespace vggt_lab {
namespace {

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ConfigurationDoc, ListsEveryCoreKeyWithItsDocAndNoOther) {
  const auto lines = lines_of(std::string(SOURCE_ROOT) + "/docs/configuration.md");
  ASSERT_FALSE(lines.empty());
  // Rows: "| `[table]` | `key` | ..." opens a table, "|  | `key` | ..." continues it.
  const std::regex row(R"(^\| (`\[(\w+)\]`)? *\| `(\w+)` \|.*\| (.*) \|$)");
  std::map<std::string, std::map<std::string, std::string>> documented;  // table -> key -> doc
  std::string table;
  for (const auto& line : lines) {
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    if (m[2].matched) table = m[2];
    documented[table][m[3]] = m[4];
  }
  for (const auto& [name, schema] : core_schemas()) {
    for (const OptionSpec& spec : schema.specs()) {
      ASSERT_TRUE(documented[name].count(spec.key)) << "[" << name << "] " << spec.key << " is not documented";
      EXPECT_EQ(documented[name][spec.key], spec.doc) << "[" << name << "] " << spec.key;
    }
  }
  for (const auto& [name, keys] : documented) {
    ASSERT_TRUE(core_schemas().count(name)) << "documented table [" << name << "] does not exist";
    std::set<std::string> known;
    for (const OptionSpec& spec : core_schemas().at(name).specs()) known.insert(spec.key);
    for (const auto& [key, doc] : keys) EXPECT_TRUE(known.count(key)) << "documented [" << name << "] " << key;
  }
}

}  // namespace
}  // namespace vggt_lab
