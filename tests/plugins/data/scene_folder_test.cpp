// Exported synthetic scenes read back through the scene-folder plugin as the
// same tensors; broken scenes are named, stopped on or skipped.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "host/plugin_host.hpp"
#include "support/support.hpp"
#include "vggt_lab/data.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/scene_folder.hpp"
#include "vggt_lab/state_dict.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

class SceneFolderTest : public ::testing::Test {
 protected:
  void SetUp() override { host_.load_path({default_plugin_dir(), "built-in", true}); }

  PluginObject<DataSource> folder(const std::string& on_error = "stop") {
    Options o;
    o.set("root", dir_.path().string());
    o.set("on_error", on_error);
    return host_.registry().create<DataSource>("scene-folder", o, host_.context());
  }

  Sample synthetic(int64_t index) {
    Options o;
    o.set("scenes", std::int64_t{10});
    o.set("objects", std::int64_t{3});
    o.set("min_fov", 50.0);
    o.set("max_fov", 60.0);
    auto source = host_.registry().create<DataSource>("synthetic-scenes", o, host_.context());
    return source.object->load({index, 3, 42, 56, 0, 7});
  }

  testing::TempDir dir_;
  PluginHost host_{nullptr};
};

TEST_F(SceneFolderTest, ExportedScenesReadBackAsTheSameTensors) {
  Sample original = synthetic(2);
  scene_folder::write(dir_.path() / "a", original, 0.001, false);   // 16-bit depth
  scene_folder::write(dir_.path() / "b", original, 0.001, true);    // .npy depth
  auto source = folder();
  ASSERT_EQ(source.object->size(), 2);
  for (int64_t scene : {0, 1}) {
    Sample back = source.object->load({scene, 3, 42, 56, 0, 0});
    EXPECT_LE((back.images - original.images).abs().max().item<double>(), 0.5 / 255 + 1e-6);
    double depth_tolerance = scene == 0 ? 0.0005 + 1e-6 : 1e-6;  // quantised to 1 mm, or exact
    EXPECT_LE((back.depths - original.depths).abs().max().item<double>(), depth_tolerance);
    EXPECT_TRUE(torch::allclose(back.extrinsics, original.extrinsics, 1e-6, 1e-6));
    EXPECT_TRUE(torch::allclose(back.intrinsics, original.intrinsics, 1e-6, 1e-6));
    EXPECT_TRUE(torch::equal(back.point_masks, original.point_masks));
  }
}

TEST_F(SceneFolderTest, ResizingKeepsCamerasConsistentWithDepth) {
  Sample original = synthetic(1);
  scene_folder::write(dir_.path() / "a", original, 0.001, true);
  // 42x56 -> scaled by 2/3 to 28x37 -> centre crop of 28x28 (4 columns off the left).
  Sample small = folder().object->load({0, 3, 28, 28, 4, 0});
  EXPECT_EQ(small.images.sizes(), (std::vector<int64_t>{3, 3, 28, 28}));
  EXPECT_EQ(small.tracks.sizes(), (std::vector<int64_t>{3, 4, 2}));
  const double sx = 37.0 / 56.0;
  EXPECT_NEAR(small.intrinsics[0][0][0].item<double>(), original.intrinsics[0][0][0].item<double>() * sx, 1e-3);
  EXPECT_NEAR(small.intrinsics[0][0][2].item<double>(), original.intrinsics[0][0][2].item<double>() * sx - 4, 1e-3);
  EXPECT_TRUE(torch::allclose(small.extrinsics, original.extrinsics));
}

TEST_F(SceneFolderTest, BrokenScenesNameSceneAndFileOrAreSkipped) {
  scene_folder::write(dir_.path() / "good", synthetic(0), 0.001, true);
  scene_folder::write(dir_.path() / "missing", synthetic(1), 0.001, true);
  std::filesystem::remove(dir_.path() / "missing" / "images" / "001.png");
  try {
    folder().object->load({1, 3, 42, 56, 0, 0});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing"));
    EXPECT_THAT(e.what(), HasSubstr("001.png"));
  }
  Sample fallback = folder("skip").object->load({1, 3, 42, 56, 0, 0});
  EXPECT_EQ(fallback.scene, "good");
  dir_.write("bad/cameras.json", "{\"frames\": [{\"image\": \"x.png\"}]}");
  try {
    folder();
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("scene bad"));
    EXPECT_THAT(e.what(), HasSubstr("every frame needs"));
  }
  dir_.write("worse/cameras.json", "{\"frames\": [");  // malformed JSON
  auto skipping = folder("skip");  // as its help says: skipped with a warning
  EXPECT_EQ(skipping.object->size(), 2);
  EXPECT_EQ(skipping.object->load({0, 3, 42, 56, 0, 0}).scene, "good");
}

TEST_F(SceneFolderTest, InferOnNonFiniteWeightsWarnsInsteadOfWritingNothingSilently) {
  scene_folder::write(dir_.path() / "scene", synthetic(3), 0.001, false);
  Options o;
  for (const auto& spec : host_.registry().get(Kind::model, "vggt").info.schema.specs()) o.set(spec.key, *spec.default_value);
  o.set("preset", std::string("tiny"));
  o.set("enable_track", false);
  auto instance = host_.registry().create<Model>("vggt", o, host_.context()).object->build();
  NamedTensors diverged = state_dict(instance->module());
  for (auto& [name, tensor] : diverged) {
    if (tensor.is_floating_point()) tensor = torch::full_like(tensor, NAN);
  }
  save_safetensors(dir_.path() / "diverged.safetensors", diverged);
  auto result = testing::run_command(testing::vggt_lab_exe() + " infer --config " + std::string(SOURCE_ROOT) +
                                     "/experiments/single.toml --images " + (dir_.path() / "scene" / "images").string() +
                                     " --checkpoint " + (dir_.path() / "diverged.safetensors").string() + " --out " +
                                     (dir_.path() / "out").string() + " -q");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("is not finite (a diverged run?)"));
  EXPECT_THAT(result.output, HasSubstr("no finite point to write"));
  // Weights of another model size are refused, pointing at where a run keeps its model options.
  auto other = testing::run_command(testing::vggt_lab_exe() + " infer --config " + std::string(SOURCE_ROOT) +
                                    "/experiments/single.toml --set model.preset=small --images " +
                                    (dir_.path() / "scene" / "images").string() + " --checkpoint " +
                                    (dir_.path() / "diverged.safetensors").string() + " --out " +
                                    (dir_.path() / "other").string() + " -q");
  EXPECT_EQ(other.status, 2) << other.output;
  EXPECT_THAT(other.output, HasSubstr("does not match the model"));
  EXPECT_THAT(other.output, HasSubstr("[model] in its config.resolved.toml"));
}

TEST_F(SceneFolderTest, InferWritesDepthCamerasAndAPointCloud) {
  scene_folder::write(dir_.path() / "scene", synthetic(3), 0.001, false);
  auto out = dir_.path() / "out";
  auto result = testing::run_command(testing::vggt_lab_exe() + " infer --config " + std::string(SOURCE_ROOT) +
                                     "/experiments/single.toml --images " + (dir_.path() / "scene" / "images").string() +
                                     " --out " + out.string() + " -q");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("points.ply"));
  std::ifstream in(out / "cameras.json");
  nlohmann::json cameras;
  in >> cameras;
  EXPECT_EQ(cameras["frames"].size(), 3u);
  for (const char* file : {"depths/000.png", "previews/000_depth.png", "previews/002_confidence.png"}) {
    EXPECT_TRUE(std::filesystem::exists(out / file)) << file;
  }
  std::ifstream ply(out / "points.ply");
  std::string magic;
  std::getline(ply, magic);
  EXPECT_EQ(magic, "ply");
  // The output folder is itself a scene in the scene-folder layout.
  EXPECT_EQ(scene_folder::read_index(out).frames.size(), 3u);
  // so infer never writes over one: a dataset's cameras and depths stay.
  const std::string cameras_before = testing::read_text(out / "cameras.json");
  auto again = testing::run_command(testing::vggt_lab_exe() + " infer --config " + std::string(SOURCE_ROOT) +
                                    "/experiments/single.toml --images " + (dir_.path() / "scene" / "images").string() +
                                    " --out " + out.string() + " -q");
  EXPECT_EQ(again.status, 2) << again.output;
  EXPECT_THAT(again.output, HasSubstr("is not an empty folder"));
  EXPECT_EQ(testing::read_text(out / "cameras.json"), cameras_before);
}

}  // namespace
}  // namespace vggt_lab
