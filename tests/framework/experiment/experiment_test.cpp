// The experiment floor: an experiment opened as every subcommand opens it
// finds its plugins where it says, and a missing table says what to add.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "experiment/experiment.hpp"
#include "support/support.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

std::string single() { return std::string(SOURCE_ROOT) + "/experiments/single.toml"; }

GlobalOptions quiet() {
  GlobalOptions global;
  global.quiet = true;
  return global;
}

TEST(Experiment, PluginsComeFromTheFoldersTheExperimentNames) {
  testing::TempDir dir;
  auto file = dir.write("e.toml", "include = [\"" + single() + "\"]\n[plugins]\nsearch_path = [\"" +
                                      testing::test_plugin_dir("test_unknown_schedule").string() +
                                      "\"]\n[placement]\nplugin = \"test-unknown-schedule\"\n");
  Experiment experiment = open_experiment(quiet(), file, {});
  EXPECT_EQ(experiment.config.plugin("placement"), "test-unknown-schedule");
  EXPECT_EQ(experiment.context().config_dir, dir.path().string());
  try {
    plan_experiment(experiment);
    FAIL() << "a plan under an unknown schedule was accepted";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("schedule 'gpipe2' is unknown"));
  }
}

TEST(Experiment, AMissingPluginTableSaysHowToAddOne) {
  testing::TempDir dir;
  auto file = dir.write("e.toml", "[model]\nplugin = \"vggt\"\npreset = \"tiny\"\n");
  Experiment experiment = open_experiment(quiet(), file, {});
  EXPECT_EQ(create_model(experiment).origin.name, "vggt");
  try {
    plan_experiment(experiment);
    FAIL() << "planned without a [placement] table";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(file.string() + ": the experiment has no [placement] table"));
    EXPECT_THAT(e.what(), HasSubstr("`vggt-lab plugins --kind placement` lists them"));
  }
}

}  // namespace
}  // namespace vggt_lab
