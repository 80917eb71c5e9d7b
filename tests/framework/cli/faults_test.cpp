// Faults and bad input as a user meets them through `vggt-lab run`: damaged
// checkpoints are passed over and never loaded, a non-finite loss stops the
// run with a report, an interrupt stops it after a step with a checkpoint, a
// resumed run keeps its own configuration and metrics, and inconsistent
// settings fail before a run folder exists.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "host/child.hpp"
#include "report/run_report.hpp"
#include "support/support.hpp"
#include "vggt_lab/compat.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;
using testing::run_command;
using testing::TempDir;
namespace fs = std::filesystem;

std::string experiment(const std::string& name) { return std::string(SOURCE_ROOT) + "/experiments/" + name; }

/// `vggt-lab run` on a small step of the tiny model.
std::string run(const std::string& args) {
  return testing::vggt_lab_exe() + " run " + args +
         " -q --set train.eval_scenes=0 --set train.frames=2 --set train.image_height=56 --set train.image_width=56";
}

std::vector<nlohmann::json> metrics(const fs::path& run_dir) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(run_dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

/// Flips 16 bytes in the middle of a file, as a failing disk would.
void corrupt(const fs::path& file) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  const auto middle = std::streamoff(fs::file_size(file) / 2);
  char bytes[16];
  f.seekg(middle);
  f.read(bytes, sizeof bytes);
  for (char& b : bytes) b = char(~b);
  f.seekp(middle);
  f.write(bytes, sizeof bytes);
}

/// single.toml trained into `out` with `settings` added.
testing::CommandResult train_single(const fs::path& out, const std::string& settings) {
  return run_command(run(experiment("single.toml") + " --out " + out.string() + " " + settings));
}

/// A 4-step run with checkpoints at steps 2 and 4.
fs::path four_steps(const TempDir& dir) {
  const fs::path out = dir.path() / "run";
  auto result = train_single(out, "--set train.steps=4 --set train.checkpoint_every=2");
  EXPECT_EQ(result.status, 0) << result.output;
  return out;
}

class CorruptCheckpoint : public ::testing::TestWithParam<std::string> {};

TEST_P(CorruptCheckpoint, ResumePassesOverItToTheNewestIntactOne) {
  TempDir dir;
  const fs::path out = four_steps(dir);
  const fs::path damaged = out / "checkpoints" / "step-000004" / GetParam();
  corrupt(damaged);
  auto result = run_command(run("--resume " + out.string() + " --set train.steps=6"));
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr(damaged.string() + " is corrupt"));
  std::vector<int> steps;
  for (const auto& line : metrics(out)) {
    ASSERT_TRUE(line["loss"].is_number()) << line.dump();
    steps.push_back(line["step"]);
  }
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4, 5, 6}));  // from step 2 on, no step twice
}

TEST_P(CorruptCheckpoint, ANamedStepFolderIsRefusedNamingTheFile) {
  TempDir dir;
  const fs::path out = four_steps(dir);
  const fs::path step = out / "checkpoints" / "step-000004";
  corrupt(step / GetParam());
  auto result = run_command(run(experiment("single.toml") + " --out " + (dir.path() / "new").string() +
                                " --resume " + step.string()));
  EXPECT_EQ(result.status, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr((step / GetParam()).string() + " is corrupt"));
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "step-000002" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir.path() / "new"));  // refused before the new run folder is made
}

INSTANTIATE_TEST_SUITE_P(Files, CorruptCheckpoint, ::testing::Values("model.safetensors", "optimizer.safetensors"),
                         [](const auto& info) { return info.param.substr(0, info.param.find('.')); });

TEST(Faults, ResumeWithoutAnExperimentFileSaysWhatItWasGiven) {
  TempDir dir;
  const fs::path step = dir.path() / "run" / "checkpoints" / "step-000002";
  fs::create_directories(step);
  std::ofstream(dir.path() / "run" / "config.resolved.toml") << "";
  auto checkpoint = run_command(run("--resume " + step.string()));
  EXPECT_EQ(checkpoint.status, 2) << checkpoint.output;
  EXPECT_THAT(checkpoint.output, HasSubstr("a checkpoint of the run " + fs::canonical(dir.path() / "run").string() +
                                           "; continue that run in place with --resume"));
  auto missing = run_command(run("--resume " + (dir.path() / "nowhere").string()));
  EXPECT_EQ(missing.status, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("nowhere: no such folder"));
  auto other = run_command(run("--resume " + dir.path().string()));
  EXPECT_EQ(other.status, 2) << other.output;
  EXPECT_THAT(other.output, HasSubstr("not a run folder (no config.resolved.toml in it)"));
}

// Ctrl-C stops a run after the step it is in, with a checkpoint of that
// step and a report; the run then continues from it, no step twice.
TEST(Faults, AnInterruptStopsAfterTheStepWithACheckpointAndTheRunContinues) {
  TempDir dir;
  const fs::path out = dir.path() / "run";
  const pid_t pid = start_child({{testing::vggt_lab_exe(), "run", experiment("single.toml"), "--out", out.string(),
                                  "-q", "--set", "train.steps=1000", "--set", "train.eval_scenes=0", "--set",
                                  "train.frames=2", "--set", "train.image_height=56", "--set", "train.image_width=56"},
                                 {},
                                 dir.path() / "run.out"});
  const bool started = testing::wait_for_lines(out / "metrics.jsonl", 2, 120);
  kill(pid, SIGINT);
  const ChildExit exit = wait_child(pid, 120);
  ASSERT_TRUE(started) << testing::read_text(dir.path() / "run.out");
  EXPECT_EQ(exit.status, 128 + SIGINT) << testing::read_text(dir.path() / "run.out");
  const auto lines = metrics(out);
  const int n = lines.back()["step"];
  EXPECT_EQ(std::size_t(n), lines.size());
  char latest[32];
  std::snprintf(latest, sizeof latest, "step-%06d\n", n);
  EXPECT_EQ(testing::read_text(out / "checkpoints" / "latest"), latest);
  EXPECT_THAT(testing::read_text(dir.path() / "run.out"),
              HasSubstr("interrupted (SIGINT) after step " + std::to_string(n) + " of 1000"));
  EXPECT_THAT(testing::read_text(out / "report.md"), HasSubstr("Stopped early"));
  auto continued = run_command(run("--resume " + out.string() + " --set train.steps=" + std::to_string(n + 2)));
  ASSERT_EQ(continued.status, 0) << continued.output;
  std::vector<int> steps;
  for (const auto& line : metrics(out)) steps.push_back(line["step"]);
  std::vector<int> expected(n + 2);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(steps, expected);
}

// A run folder is written by one process at a time: resuming a run that is
// still training (from another terminal, say) is refused, naming its process,
// and works once that process has stopped.
TEST(Faults, ARunStillTrainingIsNotResumedByASecondProcess) {
  TempDir dir;
  const fs::path out = dir.path() / "run";
  ASSERT_EQ(train_single(out, "--set train.steps=1").status, 0);
  const pid_t pid = start_child({{testing::vggt_lab_exe(), "run", "--resume", out.string(), "-q", "--set",
                                  "train.steps=1000"},
                                 {},
                                 dir.path() / "first.out"});
  const bool started = testing::wait_for_lines(out / "metrics.jsonl", 3, 120);
  auto second = run_command(run("--resume " + out.string() + " --set train.steps=2000"));
  kill(pid, SIGINT);
  wait_child(pid, 120);
  ASSERT_TRUE(started) << testing::read_text(dir.path() / "first.out");
  EXPECT_EQ(second.status, 2) << second.output;
  EXPECT_THAT(second.output, HasSubstr(out.string() + " is in use by another vggt-lab process (pid " +
                                       std::to_string(pid) + ")"));
  const int n = metrics(out).back()["step"];
  auto after = run_command(run("--resume " + out.string() + " --set train.steps=" + std::to_string(n + 1)));
  EXPECT_EQ(after.status, 0) << after.output;
  EXPECT_EQ(metrics(out).back()["step"], n + 1);
}

TEST(Faults, AMissingLatestFallsBackToTheNewestStepFolder) {
  TempDir dir;
  const fs::path out = four_steps(dir);
  fs::remove(out / "checkpoints" / "latest");
  fs::remove(out / "checkpoints" / "step-000004" / "state.json");
  auto result = run_command(run("--resume " + out.string() + " --set train.steps=5"));
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("step-000004/state.json is missing"));
  EXPECT_EQ(metrics(out).back()["step"], 5);
  EXPECT_EQ(metrics(out).size(), 5u);  // 1, 2 kept; 3, 4, 5 trained again
}

TEST(Faults, ANonFiniteLossStopsWithAReportNamingTheStepAndThePolicy) {
  TempDir dir;
  const fs::path out = dir.path() / "run";
  auto result = train_single(out, "--set train.steps=8 --set optim.lr=1e6 --set optim.start_lr=1e6");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("the loss is"));
  EXPECT_THAT(result.output, HasSubstr("skip-nonfinite"));
  const auto lines = metrics(out);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines.back()["loss"].is_null());
  EXPECT_TRUE(lines.back()["nonfinite"].get<bool>());
  EXPECT_THAT(testing::read_text(out / "report.md"), HasSubstr("Stopped early"));
  EXPECT_TRUE(fs::exists(out / "loss.svg"));
}

// A checkpoint that cannot be written (a full disk; here a limit on file
// size, 2 MiB: the run's logs fit, the tiny model's weights do not) stops the
// run saying why and what to do, and leaves no partial step folder behind.
TEST(Faults, ACheckpointThatCannotBeWrittenStopsTheRunLeavingNoPartialFolder) {
  TempDir dir;
  const fs::path out = dir.path() / "run";
  const std::string train = run(experiment("single.toml") + " --out " + out.string() +
                                " --set train.steps=4 --set train.checkpoint_every=2");
  auto result = run_command("bash -c \"trap '' XFSZ; ulimit -f 2048; exec " + train + "\"");  // EFBIG, not SIGXFSZ
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("the checkpoint of step 2 was not saved: cannot write"));
  EXPECT_THAT(result.output, HasSubstr("No checkpoint of this run was saved: make room"));
  EXPECT_TRUE(fs::is_empty(out / "checkpoints"));
  EXPECT_EQ(metrics(out).size(), 2u);
}

// Resuming a checkpoint at or past train.steps is refused before anything is
// written: it saved the last weights again under the smaller step's name, and a
// later resume trained those steps twice.
TEST(Faults, ResumingWithNoStepsLeftIsRefusedAndTouchesNoCheckpoint) {
  TempDir dir;
  const fs::path out = four_steps(dir);
  auto listing = [&] {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(out / "checkpoints")) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  };
  const auto before = listing();
  for (const std::string steps : {"4", "3"}) {
    auto refused = run_command(run("--resume " + out.string() + " --set train.steps=" + steps));
    EXPECT_EQ(refused.status, 2) << refused.output;
    EXPECT_THAT(refused.output, HasSubstr("its checkpoint step-000004 is at step 4 and train.steps is " + steps +
                                          ": nothing is left to train. Train on with --set train.steps=N, N above 4"));
  }
  auto launched = run_command(testing::vggt_lab_exe() + " launch -n 2 --resume " + out.string() + " -q");
  EXPECT_EQ(launched.status, 2) << launched.output;
  EXPECT_EQ(launched.output.find("nothing is left to train"), launched.output.rfind("nothing is left to train"))
      << launched.output;  // said once, by launch, not by each rank
  EXPECT_EQ(listing(), before);
  EXPECT_EQ(testing::read_text(out / "checkpoints" / "latest"), "step-000004\n");
  EXPECT_EQ(metrics(out).size(), 4u);
}

// Weights of another model (a wider one here) are refused from the
// checkpoint's header before the new run folder exists.
TEST(Faults, ACheckpointOfAnotherModelIsRefusedBeforeARunFolderExists) {
  TempDir dir;
  const fs::path out = four_steps(dir), wider = dir.path() / "wider";
  auto refused = run_command(run(experiment("single.toml") + " --out " + wider.string() + " --resume " +
                                 out.string() + " --set train.steps=6 --set model.embed_dim=96 --set model.num_heads=4"));
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("step-000004/model.safetensors: does not match the model"));
  EXPECT_THAT(refused.output, HasSubstr("aggregator.camera_token: file [1, 2, 1, 64] vs model [1, 2, 1, 96]"));
  EXPECT_FALSE(fs::exists(wider));
  auto same = run_command(run(experiment("single.toml") + " --out " + wider.string() + " --resume " + out.string() +
                              " --set train.steps=6"));
  EXPECT_EQ(same.status, 0) << same.output;
}

// Logs that cannot be written (a disk filling up; here a 16 KiB limit on file
// size) are warned about once each and training goes on to the checkpoint,
// which then says what to do; the report reader passes over a cut-off line.
TEST(Faults, LogsThatCannotBeWrittenAreWarnedAboutAndTrainingGoesOn) {
  TempDir dir;
  const fs::path out = dir.path() / "run";
  const std::string train = run(experiment("single.toml") + " --out " + out.string() + " --set train.steps=24");
  auto result = run_command("bash -c \"trap '' XFSZ; ulimit -f 16; exec " + train + "\"");
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("(File too large); TensorBoard events end at step"));
  EXPECT_THAT(result.output, HasSubstr("cannot write " + (out / "metrics.jsonl").string() + " at step"));
  EXPECT_THAT(result.output, HasSubstr("the checkpoint of step 24 was not saved"));  // every step trained
  const auto lines = report::read_lines(out / "metrics.jsonl");
  ASSERT_FALSE(lines.empty());
  EXPECT_LT(lines.size(), 24u);
  EXPECT_EQ(lines.back()["step"], int(lines.size()));
}

TEST(Faults, AResumedRunKeepsItsOwnConfiguration) {
  TempDir dir;
  const fs::path out = four_steps(dir);
  const std::string resolved = testing::read_text(out / "config.resolved.toml");
  auto refused = run_command(run(experiment("balanced.toml") + " --resume " + out.string()));
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("[placement] plugin"));
  EXPECT_THAT(refused.output, HasSubstr("devices.count (1 in the run)"));
  auto extended = run_command(run("--resume " + out.string() + " --set train.steps=5"));
  ASSERT_EQ(extended.status, 0) << extended.output;
  EXPECT_EQ(testing::read_text(out / "config.resolved.toml"), resolved);
  EXPECT_EQ(metrics(out).back()["step"], 5);
}

// A run resumed in its folder reports on all its steps: the summary's step
// count and loss fifths include the steps before the resume, and its progress
// lines time the steps this process trained, not the run's.
TEST(Faults, AResumedRunsSummaryAndProgressCoverItsOwnSteps) {
  TempDir dir;
  const fs::path out = four_steps(dir);
  auto resumed = run_command(run("--resume " + out.string() + " --set train.steps=10 --set train.log_every=1") + " -v");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  const auto lines = metrics(out);
  std::vector<double> losses;
  for (const auto& line : lines) {
    if (line.contains("devices")) losses.push_back(line["loss"]);
  }
  ASSERT_EQ(losses.size(), 10u);
  const auto summary = nlohmann::json::parse(testing::read_text(out / "summary.json"));
  EXPECT_EQ(summary["steps"], 10);
  EXPECT_DOUBLE_EQ(summary["first_fifth_loss"].get<double>(), (losses[0] + losses[1]) / 2);
  EXPECT_DOUBLE_EQ(summary["last_fifth_loss"].get<double>(), (losses[8] + losses[9]) / 2);
  // "step 5/10  loss ...  S s/step": S covers step 5 alone, so at least that step's time.
  const auto at = resumed.output.find("step 5/10 ");
  ASSERT_NE(at, std::string::npos) << resumed.output;
  const auto line = resumed.output.substr(at, resumed.output.find('\n', at) - at);
  const double per_step = std::stod(line.substr(line.find("s/step") - 5, 5));
  EXPECT_GE(per_step, 0.9 * lines[4]["step_seconds"].get<double>()) << line;
}

// A relative path means what the file that writes it meant, and on the
// command line the current folder: config.resolved.toml keeps it absolute,
// so the run resumes in its own folder (it read the scenes from beside the
// run folder instead) and --set names a folder as the shell sees it.
TEST(Faults, RelativePathsAreReadFromTheFileOrTheFolderThatWroteThem) {
  TempDir dir;
  const std::string small = " --set train.image_height=56 --set train.image_width=56";
  ASSERT_EQ(run_command(testing::vggt_lab_exe() + " -q data export " + experiment("single.toml") + " --scenes 2 --out " +
                        (dir.path() / "scenes").string() + small).status, 0);
  const fs::path file = dir.write("experiments/scenes.toml", "include = [\"" + experiment("single.toml") +
                                                                  "\"]\n[data]\nplugin = \"scene-folder\"\n"
                                                                  "root = \"../scenes\"\n");
  const fs::path out = dir.path() / "runs" / "2026" / "run";
  auto first = run_command(run(file.string() + " --out " + out.string() + " --set train.steps=2"));
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_THAT(testing::read_text(out / "config.resolved.toml"),
              HasSubstr("root = \"" + (dir.path() / "scenes").string() + "\""));
  auto resumed = run_command(run("--resume " + out.string() + " --set train.steps=3"));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  // [model] weights, included from another file: read from beside that file.
  const fs::path weights = out / "checkpoints" / "step-000002" / "model.safetensors";
  dir.write("experiments/weights.toml",
            "[model]\nweights = \"../runs/2026/run/checkpoints/step-000002/model.safetensors\"\n");
  const fs::path started =
      dir.write("elsewhere.toml", "include = [\"experiments/scenes.toml\", \"experiments/weights.toml\"]\n");
  auto from_weights = run_command(run(started.string() + " --out " + (dir.path() / "from").string() +
                                      " --set train.steps=1"));
  ASSERT_EQ(from_weights.status, 0) << from_weights.output;
  EXPECT_THAT(testing::read_text(dir.path() / "from" / "config.resolved.toml"),
              HasSubstr("weights = \"" + weights.string() + "\""));
  auto from_here = run_command("cd " + dir.path().string() + " && " +
                               run(file.string() + " --out elsewhere --set train.steps=1 --set data.root=scenes"));
  ASSERT_EQ(from_here.status, 0) << from_here.output;
  EXPECT_THAT(testing::read_text(dir.path() / "elsewhere" / "config.resolved.toml"),
              HasSubstr("root = \"" + (dir.path() / "scenes").string() + "\""));
}

TEST(Faults, ATrainableParameterWithoutGradientStopsTheRunNamingIt) {
  TempDir dir;
  // The point loss weighs 0, so nothing reaches the point head.
  auto stopped = train_single(dir.path() / "stopped", "--set train.steps=2 --set train.point_weight=0");
  EXPECT_EQ(stopped.status, 1) << stopped.output;
  EXPECT_THAT(stopped.output, HasSubstr("step 1: trainable parameter 'point_head."));
  EXPECT_THAT(stopped.output, HasSubstr("got no gradient"));
  EXPECT_FALSE(fs::exists(dir.path() / "stopped" / "checkpoints" / "latest"));
  auto allowed = train_single(dir.path() / "allowed",
                              "--set train.steps=2 --set train.point_weight=0 --set train.unused_parameters=true");
  EXPECT_EQ(allowed.status, 0) << allowed.output;
}

TEST(Faults, KeepCheckpointsKeepsThatMany) {
  TempDir dir;
  const fs::path out = dir.path() / "run";
  auto result = train_single(out, "--set train.steps=4 --set train.checkpoint_every=1 --set train.keep_checkpoints=3");
  ASSERT_EQ(result.status, 0) << result.output;
  std::vector<std::string> kept;
  for (const auto& entry : fs::directory_iterator(out / "checkpoints")) {
    if (entry.is_directory()) kept.push_back(entry.path().filename().string());
  }
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(kept, (std::vector<std::string>{"step-000002", "step-000003", "step-000004"}));
}

struct BadSetting {
  std::string set, message;
};

class BadSettings : public ::testing::TestWithParam<BadSetting> {};

TEST_P(BadSettings, FailWithTheirLocationBeforeARunFolderExists) {
  TempDir dir;
  auto file = dir.write("exp.toml", "include = [\"" + experiment("base.toml") + "\"]\n\n[placement]\nplugin = \"single\"\n\n"
                                    "[train]\n" + GetParam().set + "\n");
  auto result = run_command(testing::vggt_lab_exe() + " run " + file.string() + " --out " + (dir.path() / "run").string());
  EXPECT_EQ(result.status, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr(file.string() + ":7:1: " + GetParam().message));
  EXPECT_FALSE(fs::exists(dir.path() / "run"));
}

INSTANTIATE_TEST_SUITE_P(
    Train, BadSettings,
    ::testing::Values(BadSetting{"image_width = 120", "'image_width' in [train] must be a multiple of patch_size 14"},
                      BadSetting{"image_height = 113", "'image_height' in [train] must be a multiple of patch_size 14"},
                      BadSetting{"min_frames = 9", "'min_frames' in [train] (9) must be at most frames (4)"},
                      BadSetting{"min_aspect = 0.9\nmax_aspect = 0.5", "'min_aspect' in [train] (0.9) must be at most"}));

// `plan --max-frames`: the plan fits at the count it reports and not at one
// more; chunked heads raise it (the point head binds the 1B per-head layout).
TEST(Faults, PlanMaxFramesIsTheLargestCountThatFits) {
  const std::string file = experiment("1b/per_head.toml");
  auto max_frames = [&](const std::string& settings) {
    auto result = run_command(testing::vggt_lab_exe() + " plan " + file + " --max-frames --json " + settings);
    EXPECT_EQ(result.status, 0) << result.output;
    return nlohmann::json::parse(result.output)["max_frames"].get<int>();
  };
  const int plain = max_frames(""), chunked = max_frames("--set train.head_checkpoint_frames=1");
  auto plan_at = [&](int frames) {
    return run_command(testing::vggt_lab_exe() + " plan " + file + " -q --set train.frames=" + std::to_string(frames))
        .status;
  };
  EXPECT_EQ(plan_at(plain), 0);
  EXPECT_EQ(plan_at(plain + 1), 1);
  EXPECT_GT(chunked, plain);
}

TEST(Faults, AnUnknownTableAndOtherErrorsAreAllShown) {
  TempDir dir;
  auto file = dir.write("exp.toml", "[trian]\nsteps = 3\n\n[train]\nstepz = 4\n");
  auto result = run_command(testing::vggt_lab_exe() + " plan " + file.string());
  EXPECT_EQ(result.status, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr(file.string() + ":1:2: unknown table [trian]"));
  EXPECT_THAT(result.output, HasSubstr(file.string() + ":5:1: unknown key 'stepz'"));
}

/// base.toml laid out by a test plugin with `options`, in `dir`.
fs::path with_test_placement(const TempDir& dir, const std::string& plugin, const std::string& options = "") {
  return dir.write("exp.toml", "include = [\"" + experiment("base.toml") + "\"]\n\n[placement]\nplugin = \"" + plugin +
                                   "\"\n" + options);
}

TEST(Faults, AnInvalidPlanNamesThePluginAndItsFileWithStatus2) {
  TempDir dir;
  const auto file = with_test_placement(dir, "test-good", "device = 3\n");  // one device exists
  const std::string plugins = " --plugin-path " + testing::test_plugin_dir("test_good").string();
  for (const std::string command : {" plan ", " run "}) {
    auto result = run_command(testing::vggt_lab_exe() + plugins + command + file.string() +
                              (command == " run " ? " --out " + (dir.path() / "run").string() : ""));
    EXPECT_EQ(result.status, 2) << command << result.output;
    EXPECT_THAT(result.output, HasSubstr("placement plugin 'test-good' (" + testing::test_plugin_dir("test_good").string()));
    EXPECT_THAT(result.output, HasSubstr("returned an invalid plan"));
  }
  EXPECT_FALSE(fs::exists(dir.path() / "run"));
}

TEST(Faults, AnUnknownScheduleAndNoMicroBatchAreRefusedWithStatus2) {
  TempDir dir;
  const auto file = with_test_placement(dir, "test-unknown-schedule");
  const std::string plugins = " --plugin-path " + testing::test_plugin_dir("test_unknown_schedule").string();
  for (const std::string command : {" plan ", " run "}) {
    auto result = run_command(testing::vggt_lab_exe() + plugins + command + file.string() +
                              (command == " run " ? " --out " + (dir.path() / "run").string() : ""));
    EXPECT_EQ(result.status, 2) << command << result.output;
    EXPECT_THAT(result.output, HasSubstr("schedule 'gpipe2' is unknown; the known ones: 1f1b, gpipe, sequential"));
    EXPECT_THAT(result.output, HasSubstr("micro_batches is 0; a plan runs at least 1"));
  }
  EXPECT_FALSE(fs::exists(dir.path() / "run"));
}

// A plugin's own order of actions (schedule = "custom") is what runs: three
// steps train like the pipeline plugin's 1F1B over the same two micro-batches
// (one core each, so the products sum in one order).
TEST(PluginSchedule, ACustomScheduleTrainsLikeTheBuiltInOne) {
  TempDir dir;
  const std::string common = " --set devices.count=2 --set train.steps=3 --set train.log_every=1";
  auto custom = run_command("VGGT_LAB_CORES=1 " + run(with_test_placement(dir, "test-custom-schedule").string() +
                                                       " --plugin-path " +
                                                       testing::test_plugin_dir("test_custom_schedule").string() +
                                                       " --out " + (dir.path() / "custom").string() + common));
  auto builtin = run_command("VGGT_LAB_CORES=1 " + run(experiment("base.toml") + " --out " +
                                                        (dir.path() / "builtin").string() + common +
                                                        " --set placement.plugin=pipeline --set placement.stages=2 "
                                                        "--set placement.micro_batches=2"));
  ASSERT_EQ(custom.status, 0) << custom.output;
  ASSERT_EQ(builtin.status, 0) << builtin.output;
  EXPECT_THAT(testing::read_text(dir.path() / "custom" / "plan.json"), HasSubstr("\"schedule\": \"custom\""));
  const auto ours = metrics(dir.path() / "custom"), theirs = metrics(dir.path() / "builtin");
  ASSERT_EQ(ours.size(), 3u);
  ASSERT_EQ(theirs.size(), 3u);
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const double reference = theirs[i]["loss"].get<double>();
    EXPECT_NEAR(ours[i]["loss"].get<double>(), reference, 1e-5 * std::abs(reference)) << "step " << i + 1;
  }
}

TEST(Faults, ACrashInsideAPluginNamesIt) {
  TempDir dir;
  const auto file = with_test_placement(dir, "test-crash");
  auto result = run_command(testing::vggt_lab_exe() + " --plugin-path " +
                            testing::test_plugin_dir("test_crash").string() + " plan " + file.string());
  EXPECT_NE(result.status, 0);
  EXPECT_THAT(result.output, HasSubstr("fatal: segmentation fault while running placement plugin 'test-crash' (" +
                                       testing::test_plugin_dir("test_crash").string()));
}

// bf16 autocast reaches the modules through `run`: step 1's loss moves off
// the fp32 run's by bf16 rounding (above 1e-6, within 2 %), and stays finite.
TEST(Faults, Bf16TrainsOnCpusThroughRun) {
  TempDir dir;
  auto fp32 = train_single(dir.path() / "fp32", "--set train.steps=2");
  auto bf16 = train_single(dir.path() / "bf16", "--set train.steps=2 --set train.precision=bf16");
  ASSERT_EQ(fp32.status, 0) << fp32.output;
  ASSERT_EQ(bf16.status, 0) << bf16.output;
  const double reference = metrics(dir.path() / "fp32").front()["loss"].get<double>();
  const auto lines = metrics(dir.path() / "bf16");
  ASSERT_GE(lines.size(), 2u);
  const double loss = lines.front()["loss"].get<double>();
  EXPECT_GT(std::abs(loss - reference), 1e-6 * std::abs(reference));
  EXPECT_LT(std::abs(loss - reference), 2e-2 * std::abs(reference));
  EXPECT_TRUE(std::isfinite(lines.back()["loss"].get<double>()));
}

TEST(Faults, CudaDevicesWithoutCudaFailBeforeARunFolderExists) {
  if (compat::cuda_device_count() > 0) GTEST_SKIP() << "this build sees a CUDA device";
  TempDir dir;
  auto result = train_single(dir.path() / "run", "--set devices.physical=cuda");
  EXPECT_EQ(result.status, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("is on cuda:0"));
  EXPECT_FALSE(fs::exists(dir.path() / "run"));
}

}  // namespace
}  // namespace vggt_lab
