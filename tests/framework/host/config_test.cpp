// Experiment files: every error names file:line:col, the key, and the nearest
// valid name; includes, overrides and the resolved TOML behave as documented.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/config.hpp"
#include "host/plugin_host.hpp"
#include "support/support.hpp"

namespace vggt_lab {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { host_.load_path({testing::test_plugin_dir("test_good"), "test", true}); }

  /// The error messages of loading, overriding and resolving `text`.
  std::vector<std::string> errors(const std::string& text,
                                  const std::vector<std::string>& overrides = {}) {
    try {
      resolve(text, overrides);
    } catch (const ConfigError& e) {
      return e.messages();
    }
    return {};
  }

  ResolvedConfig resolve(const std::string& text, const std::vector<std::string>& overrides = {}) {
    RawConfig raw = load_config(dir_.write("exp.toml", text));
    for (const auto& assignment : overrides) apply_override(raw, assignment);
    return resolve_config(raw, host_.registry());
  }

  std::string file() const { return (dir_.path() / "exp.toml").string(); }

  testing::TempDir dir_;
  PluginHost host_{nullptr};
};

TEST_F(ConfigTest, SyntaxErrorHasLineAndColumn) {
  auto messages = errors("[train]\nsteps = 3\nlog_every = = 2\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], StartsWith(file() + ":3:"));
  EXPECT_THAT(messages[0], HasSubstr("TOML syntax error"));
}

TEST_F(ConfigTest, UnknownKeyNamesTableAndSuggests) {
  auto messages = errors("[experiment]\nname = \"x\"\n\n[train]\n\nstepz = 10\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], StartsWith(file() + ":6:1: unknown key 'stepz' in [train] (did you "
                                               "mean 'steps'?)"));
}

TEST_F(ConfigTest, UnknownTableSuggests) {
  auto messages = errors("[trian]\nsteps = 3\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], StartsWith(file() + ":1:2: unknown table [trian] (did you mean "
                                               "'train'?)"));
}

TEST_F(ConfigTest, WrongTypeSaysWhatWasExpectedAndGot) {
  auto messages = errors("[train]\nsteps = \"ten\"\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0],
            file() + ":2:1: 'steps' in [train] must be an integer, got a string (\"ten\")");
}

TEST_F(ConfigTest, OutOfRangeGivesTheBound) {
  auto messages = errors("[devices]\ncount = 0\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], file() + ":2:1: 'count' in [devices] must be at least 1, got 0");
}

TEST_F(ConfigTest, CustomCheckRejectsABadSize) {
  auto messages = errors("[devices]\nmemory = \"80 gigs\"\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], StartsWith(file() + ":2:1: 'memory' in [devices] must be \"auto\" or "
                                               "a size"));
}

TEST_F(ConfigTest, UnknownPluginSuggestsTheNearest) {
  auto messages = errors("[placement]\nplugin = \"test-godd\"\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0],
              StartsWith(file() + ":2:1: unknown placement plugin 'test-godd' in [placement] "
                                  "(did you mean 'test-good'?); available: test-good"));
}

TEST_F(ConfigTest, PluginTableWithoutPluginKeyListsChoices) {
  auto messages = errors("[placement]\ndevice = 1\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0], HasSubstr("[placement] needs plugin = \"<name>\""));
  EXPECT_THAT(messages[0], HasSubstr("test-good"));
}

TEST_F(ConfigTest, PluginOptionsAreValidatedAgainstThePluginSchema) {
  auto messages = errors("[placement]\nplugin = \"test-good\"\ndevice = 9\ndevise = 1\n");
  EXPECT_THAT(messages,
              ElementsAre(file() + ":3:1: 'device' in [placement] must be at most 7, got 9",
                          StartsWith(file() + ":4:1: unknown key 'devise' in [placement] (did "
                                              "you mean 'device'?)")));
}

TEST_F(ConfigTest, AllErrorsAreReportedAtOnce) {
  auto messages = errors("[train]\nsteps = 0\nlog_every = \"x\"\n[devices]\ncount = -1\n");
  EXPECT_EQ(messages.size(), 3u);
}

TEST_F(ConfigTest, DefaultsFillEveryCoreTable) {
  ResolvedConfig config = resolve("[train]\nsteps = 7\n");
  EXPECT_EQ(config.core("train").get<std::int64_t>("steps"), 7);
  EXPECT_EQ(config.core("train").get<std::int64_t>("log_every"), 10);
  EXPECT_EQ(config.core("devices").get<std::string>("memory"), "auto");
  EXPECT_EQ(config.core("experiment").get<std::string>("name"), "exp");
  EXPECT_FALSE(config.plugin("placement"));
}

TEST_F(ConfigTest, IntegersWidenToNumbers) {
  ResolvedConfig config = resolve("[distributed]\ntimeout_s = 60\n");
  EXPECT_DOUBLE_EQ(config.core("distributed").get<double>("timeout_s"), 60.0);
}

TEST_F(ConfigTest, OverridesAreTypedByTheSchemaAndWin) {
  ResolvedConfig config = resolve(
      "[train]\nsteps = 7\n[placement]\nplugin = \"test-good\"\n",
      {"train.steps=12", "experiment.name=bare-string", "placement.device=2",
       "distributed.timeout_s=1.5"});
  EXPECT_EQ(config.core("train").get<std::int64_t>("steps"), 12);
  EXPECT_EQ(config.core("experiment").get<std::string>("name"), "bare-string");
  EXPECT_EQ(config.plugin_options("placement").get<std::int64_t>("device"), 2);
  EXPECT_DOUBLE_EQ(config.core("distributed").get<double>("timeout_s"), 1.5);
}

TEST_F(ConfigTest, BadOverridesSayWhatIsWrong) {
  EXPECT_THAT(errors("", {"train.steps=abc"}),
              ElementsAre("--set train.steps=abc: cannot read 'abc' as an integer for 'steps' "
                          "in [train]"));
  EXPECT_THAT(errors("", {"train.stepz=3"}),
              ElementsAre(StartsWith("--set train.stepz=3: unknown key 'stepz' in [train] (did "
                                     "you mean 'steps'?)")));
  try {
    RawConfig raw = load_config(dir_.write("exp.toml", ""));
    apply_override(raw, "trainsteps=3");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.messages(), ElementsAre(HasSubstr("expected table.key=value")));
  }
}

TEST_F(ConfigTest, IncludesGiveDefaultsThatTheFileOverrides) {
  dir_.write("base.toml", "[train]\nsteps = 5\nlog_every = 2\n");
  ResolvedConfig config = resolve("include = [\"base.toml\"]\n[train]\nsteps = 9\n");
  EXPECT_EQ(config.core("train").get<std::int64_t>("steps"), 9);
  EXPECT_EQ(config.core("train").get<std::int64_t>("log_every"), 2);
}

TEST_F(ConfigTest, ErrorsInsideAnIncludeNameThatFile) {
  auto base = dir_.write("base.toml", "[train]\nsteps = -5\n");
  auto messages = errors("include = [\"base.toml\"]\n");
  EXPECT_THAT(messages, ElementsAre(base.string() + ":2:1: 'steps' in [train] must be at least 1, "
                                                    "got -5"));
}

TEST_F(ConfigTest, IncludeCycleIsReportedAtTheInclude) {
  dir_.write("other.toml", "include = [\"exp.toml\"]\n");
  auto messages = errors("include = [\"other.toml\"]\n");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0], (dir_.path() / "other.toml").string() +
                             ":1:12: include cycle: exp.toml -> other.toml -> exp.toml");
}

TEST_F(ConfigTest, MissingIncludeIsReportedAtTheInclude) {
  dir_.write("base.toml", "");
  auto messages = errors("\ninclude = [\"bsae.toml\", \"defaults.toml\"]\n");
  EXPECT_THAT(messages, ElementsAre(file() + ":2:12: experiment file '" + (dir_.path() / "bsae.toml").string() +
                                        "' does not exist (did you mean '" + (dir_.path() / "base.toml").string() + "'?)",
                                    file() + ":2:25: experiment file '" + (dir_.path() / "defaults.toml").string() +
                                        "' does not exist; " + dir_.path().string() + " holds base.toml, exp.toml"));
}

TEST_F(ConfigTest, TopLevelKeysAndNestedTablesAreRejected) {
  auto messages = errors("steps = 3\n[train.extra]\nx = 1\n");
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_THAT(messages[0], StartsWith(file() + ":1:1: unknown top-level key 'steps'"));
  EXPECT_THAT(messages[1], HasSubstr("'extra' is a nested table"));
}

TEST_F(ConfigTest, ResolvedTomlReadsBackToTheSameConfiguration) {
  ResolvedConfig first = resolve(
      "[train]\nsteps = 3\n[plugins]\nsearch_path = []\n[placement]\nplugin = \"test-good\"\n"
      "device = 4\n");
  RawConfig raw = load_config(dir_.write("resolved.toml", first.to_toml()));
  ResolvedConfig second = resolve_config(raw, host_.registry());
  EXPECT_EQ(second.to_toml().substr(second.to_toml().find('\n')),
            first.to_toml().substr(first.to_toml().find('\n')));
  EXPECT_EQ(second.plugin("placement"), "test-good");
}

TEST_F(ConfigTest, SearchPathIsRelativeToTheFileThatNamesIt) {
  dir_.write("sub/base.toml", "[plugins]\nsearch_path = [\"my-plugins\"]\n");
  RawConfig raw = load_config(dir_.write("exp.toml", "include = [\"sub/base.toml\"]\n"));
  EXPECT_THAT(config_search_path(raw), ElementsAre(dir_.path() / "sub" / "my-plugins"));
}

}  // namespace
}  // namespace vggt_lab
