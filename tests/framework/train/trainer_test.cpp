// Training as `vggt-lab run` does it: resume continues bit-exactly on the CPU,
// a checkpoint loads under another plan, and a tiny model learns depth.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/support.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab {
namespace {

using testing::run_command;

std::string run(const std::string& experiment, const std::filesystem::path& out, const std::string& extra) {
  return testing::vggt_lab_exe() + " run " + std::string(SOURCE_ROOT) + "/experiments/" + experiment + " --out " +
         out.string() + " --set train.eval_scenes=0 -q " + extra;
}

NamedTensors weights(const std::filesystem::path& run_dir, int step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%06d", step);
  return load_safetensors(run_dir / "checkpoints" / name / "model.safetensors").tensors;
}

TEST(Trainer, ResumingGivesBitIdenticalParameters) {
  testing::TempDir dir;
  const std::string steps = " --set train.steps=4 --set train.checkpoint_every=2";
  auto straight = dir.path() / "straight", resumed_dir = dir.path() / "resumed";
  ASSERT_EQ(run_command(run("single.toml", straight, steps)).status, 0);
  // A run that died after its step-2 checkpoint: the same folder without step 4.
  std::filesystem::copy(straight, resumed_dir, std::filesystem::copy_options::recursive);
  std::filesystem::remove_all(resumed_dir / "checkpoints" / "step-000004");
  std::ofstream(resumed_dir / "checkpoints" / "latest") << "step-000002\n";
  auto resumed = run_command(run("single.toml", resumed_dir, steps + " --resume " + resumed_dir.string()));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  auto a = weights(straight, 4), b = weights(resumed_dir, 4);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(Trainer, ACheckpointContinuesUnderAnotherPlanAndDeviceCount) {
  testing::TempDir dir;
  ASSERT_EQ(run_command(run("single.toml", dir.path() / "one", "--set train.steps=2")).status, 0);
  auto result = run_command(run("balanced.toml", dir.path() / "four", "--set train.steps=3 --resume " + (dir.path() / "one").string()));
  ASSERT_EQ(result.status, 0) << result.output;
  std::ifstream metrics(dir.path() / "four" / "metrics.jsonl");
  std::string line;
  std::getline(metrics, line);
  EXPECT_EQ(nlohmann::json::parse(line)["step"], 3);  // continued, not restarted
}

TEST(Trainer, EpochsSetTheStepsFromTheSourceSize) {
  testing::TempDir dir;
  // 7 scenes, 2 per step: 2 epochs are ceil(14 / 2) = 7 steps, whatever train.steps says.
  auto result = run_command(run("single.toml", dir.path() / "run",
                                "--set train.steps=1000 --set train.epochs=2 --set data.scenes=7 --set train.batch_size=2 "
                                "--set train.min_frames=4 --set train.image_height=56 --set train.image_width=56"));
  ASSERT_EQ(result.status, 0) << result.output;
  std::ifstream metrics(dir.path() / "run" / "metrics.jsonl");
  int steps = 0;
  for (std::string line; std::getline(metrics, line);) steps += nlohmann::json::parse(line).contains("loss");
  EXPECT_EQ(steps, 7);
}

TEST(Trainer, ATinyModelLearnsDepth) {
  // Depth AbsRel on held-out scenes falls by at least 1.5x in 40 steps
  // (measured: about 3x; the untrained model's depth is unrelated to the scene).
  testing::TempDir dir;
  auto result = run_command(run("single.toml", dir.path() / "run",
                                "--set train.steps=40 --set train.eval_every=1000 --set train.eval_scenes=3 "
                                "--set model.enable_point=false --set train.point_weight=0.0 "
                                "--set 'gradient.groups=[\"aggregator\",\"camera\",\"depth\"]'"));
  ASSERT_EQ(result.status, 0) << result.output;
  // The run's first evaluation is at the end; compare with the same model before training.
  std::ifstream metrics(dir.path() / "run" / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(metrics, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_TRUE(lines.back().contains("eval"));
  double trained = lines.back()["eval"]["depth_abs_rel"];
  auto untrained = run_command(run("single.toml", dir.path() / "untrained",
                                   "--set train.steps=1 --set optim.lr=0.0 --set optim.start_lr=0.0 "
                                   "--set train.eval_scenes=3 --set model.enable_point=false "
                                   "--set train.point_weight=0.0 --set 'gradient.groups=[\"aggregator\",\"camera\",\"depth\"]'"));
  ASSERT_EQ(untrained.status, 0) << untrained.output;
  std::ifstream before(dir.path() / "untrained" / "metrics.jsonl");
  std::vector<nlohmann::json> b;
  for (std::string line; std::getline(before, line);) b.push_back(nlohmann::json::parse(line));
  double initial = b.back()["eval"]["depth_abs_rel"];
  EXPECT_LT(trained * 1.5, initial) << "trained " << trained << ", untrained " << initial;
}

}  // namespace
}  // namespace vggt_lab
