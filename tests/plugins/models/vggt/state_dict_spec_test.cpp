// The vggt plugin's state dict, computed without allocation, against the
// official 1B key list (tests/plugins/models/vggt/vggt-1b-state-dict-keys.txt,
// a copy of the project's shared reference).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "host/config.hpp"
#include "host/plugin_host.hpp"
#include "support/support.hpp"
#include "vggt_lab/model.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

const std::string kKeyFile = std::string(SOURCE_ROOT) +
                             "/tests/plugins/models/vggt/vggt-1b-state-dict-keys.txt";

class VggtSpecTest : public ::testing::Test {
 protected:
  void SetUp() override { host_.load_path({default_plugin_dir(), "built-in", true}); }

  std::vector<TensorSpec> spec(const std::vector<std::string>& overrides) {
    RawConfig raw;
    raw.file = "test.toml";
    apply_override(raw, "model.plugin=vggt");
    for (const auto& assignment : overrides) apply_override(raw, assignment);
    ResolvedConfig config = resolve_config(raw, host_.registry());
    auto model = host_.registry().create<Model>("vggt", config.plugin_options("model"),
                                                host_.context());
    return model.call([](Model& m) { return m.state_dict_spec(); });
  }

  static std::int64_t parameters(const std::vector<TensorSpec>& tensors, const std::string& prefix) {
    std::int64_t total = 0;
    for (const auto& t : tensors) {
      if (t.name.rfind(prefix, 0) == 0) total += numel(t);
    }
    return total;
  }

  PluginHost host_{nullptr};
};

TEST_F(VggtSpecTest, OneBillionPresetMatchesTheOfficialKeyListLineForLine) {
  std::ifstream in(kKeyFile);
  ASSERT_TRUE(in) << kKeyFile;
  std::vector<std::string> expected;
  for (std::string line; std::getline(in, line);) expected.push_back(line);
  std::vector<std::string> actual;
  for (const auto& t : spec({"model.preset=1b"})) actual.push_back(t.name + "\t" + shape_text(t.shape));
  ASSERT_EQ(actual.size(), 1797u);
  EXPECT_EQ(actual, expected);
}

TEST_F(VggtSpecTest, OneBillionParameterCountsPerModuleMatchTheSpec) {
  auto tensors = spec({"model.preset=1b"});
  EXPECT_EQ(parameters(tensors, ""), 1256537516);
  EXPECT_EQ(parameters(tensors, "aggregator."), 909112320);
  EXPECT_EQ(parameters(tensors, "camera_head."), 216174610);
  EXPECT_EQ(parameters(tensors, "depth_head."), 32654562);
  EXPECT_EQ(parameters(tensors, "point_head."), 32654628);
  EXPECT_EQ(parameters(tensors, "track_head.feature_extractor."), 22834048);
  EXPECT_EQ(parameters(tensors, "track_head.tracker."), 43107348);
}

TEST_F(VggtSpecTest, DisabledHeadsContributeNoKeys) {
  auto tensors = spec({"model.preset=1b", "model.enable_track=false", "model.enable_point=false"});
  EXPECT_EQ(parameters(tensors, "track_head."), 0);
  EXPECT_EQ(parameters(tensors, "point_head."), 0);
  EXPECT_EQ(parameters(tensors, ""), 1256537516 - 65941396 - 32654628);
}

TEST_F(VggtSpecTest, TinyPresetUsesAConvPatchEmbedAndFollowsOverrides) {
  auto tensors = spec({"model.preset=tiny", "model.depth=5"});
  EXPECT_EQ(tensors.at(2).name, "aggregator.patch_embed.proj.weight");
  EXPECT_EQ(tensors.at(2).shape, (std::vector<std::int64_t>{64, 3, 14, 14}));
  int frame_blocks = 0;
  for (const auto& t : tensors) frame_blocks += t.name.find(".ls2.gamma") != std::string::npos &&
                                               t.name.rfind("aggregator.frame_blocks.", 0) == 0;
  EXPECT_EQ(frame_blocks, 5);
  EXPECT_LT(parameters(tensors, ""), 30'000'000);
}

TEST_F(VggtSpecTest, ImpossibleCombinationsSayWhatToChange) {
  try {
    spec({"model.preset=tiny", "model.patch_embed=dinov2_vitl14_reg"});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("produces tokens of width 1024, but embed_dim is 64"));
    EXPECT_THAT(e.what(), HasSubstr("model plugin 'vggt'"));
  }
}

TEST_F(VggtSpecTest, MisspeltPresetKeyGetsTheDocumentedError) {
  testing::TempDir dir;
  auto file = dir.write("bad.toml",
                        "[experiment]\nname = \"bad\"\n\n[model]\nplugin = \"vggt\"\npresett = "
                        "\"tiny\"\n");
  try {
    resolve_config(load_config(file), host_.registry());
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.messages().size(), 1u);
    EXPECT_THAT(e.messages()[0],
                ::testing::StartsWith(file.string() + ":6:1: unknown key 'presett' in [model] "
                                                      "(did you mean 'preset'?)"));
  }
}

TEST(ModelKeysCommand, PrintsTheOfficialListForThe1bPreset) {
  auto result = testing::run_command(testing::vggt_lab_exe() + " model keys --preset 1b -q");
  ASSERT_EQ(result.status, 0) << result.output;
  std::ifstream in(kKeyFile);
  std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(result.output, expected);
}

}  // namespace
}  // namespace vggt_lab
