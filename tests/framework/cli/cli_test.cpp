// The command line as a user meets it: exit statuses, messages, JSON, and
// what a run leaves in its folder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/event_file.hpp"
#include "support/support.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::run_command;
using testing::TempDir;

std::string exe() { return testing::vggt_lab_exe(); }

/// `command` with its standard error dropped, for run_command (which adds
/// 2>&1 after it): its output is then the JSON on standard output alone.
std::string stdout_of(const std::string& command) { return "(" + command + " 2>/dev/null)"; }

TEST(Cli, BrokenExperimentGivesPreciseErrorStatus2AndWritesNothing) {
  TempDir dir;
  auto file = dir.write("bad.toml",
                        "[experiment]\nname = \"bad\"\n\n[train]\nsteps = 3\nstepz = 4\n");
  auto result = run_command(exe() + " run " + file.string() + " --out " +
                            (dir.path() / "run").string());
  EXPECT_EQ(result.status, 2);
  EXPECT_THAT(result.output, HasSubstr(file.string() +
                                       ":6:1: unknown key 'stepz' in [train] (did you mean "
                                       "'steps'?)"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "run"));
}

/// A shipped experiment shortened to a few steps.
std::string quick_run(const std::string& experiment, const std::filesystem::path& out, int steps = 2) {
  return exe() + " run " + std::string(SOURCE_ROOT) + "/experiments/" + experiment + " --out " + out.string() +
         " --set train.steps=" + std::to_string(steps) + " --set train.eval_scenes=1 -q";
}

TEST(Cli, RunTrainsAndFillsTheRunFolder) {
  TempDir dir;
  auto out = dir.path() / "run";
  auto result = run_command(quick_run("single.toml", out) + " --set train.log_every=1");
  ASSERT_EQ(result.status, 0) << result.output;
  for (const char* file : {"config.resolved.toml", "run.log", "plan.json", "plan.svg", "metrics.jsonl", "summary.json",
                           "report.md", "loss.svg", "memory.svg", "timeline.svg", "timeline.json",
                           "checkpoints/latest", "checkpoints/step-000002/model.safetensors"}) {
    EXPECT_TRUE(std::filesystem::exists(out / file)) << file;
  }
  EXPECT_THAT(testing::read_text(out / "config.resolved.toml"), HasSubstr("\nsteps = 2\n"));
  std::istringstream metrics(testing::read_text(out / "metrics.jsonl"));
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(metrics, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);  // two steps and the final evaluation
  for (const char* key : {"loss", "lr", "step_seconds", "samples_per_second", "devices", "grad_norms", "losses"}) {
    EXPECT_TRUE(lines[0].contains(key)) << key;
  }
  EXPECT_TRUE(lines[0]["losses"].contains("loss_camera"));
  EXPECT_TRUE(lines[0]["devices"][0].contains("peak_bytes"));
  EXPECT_TRUE(lines[2]["eval"].contains("depth_abs_rel"));
  auto plan = nlohmann::json::parse(testing::read_text(out / "plan.json"));
  EXPECT_GT(plan["devices"][0]["predicted_peak_bytes"].get<int64_t>(), 0);
  EXPECT_THAT(testing::read_text(out / "report.md"), HasSubstr("| steps | 2 (0 skipped) |"));
  // The run's weights leave it as a torch.save file with the official keys.
  auto pt = run_command(exe() + " model convert " + out.string() + " " + (dir.path() / "model.pt").string());
  ASSERT_EQ(pt.status, 0) << pt.output;
  auto back = run_command(exe() + " model convert " + (dir.path() / "model.pt").string() + " " +
                          (dir.path() / "model.safetensors").string());
  ASSERT_EQ(back.status, 0) << back.output;
  const NamedTensors saved = load_safetensors(out / "checkpoints/step-000002/model.safetensors").tensors;
  std::map<std::string, torch::Tensor> converted;
  for (auto& [name, tensor] : load_safetensors(dir.path() / "model.safetensors").tensors) converted[name] = tensor;
  ASSERT_EQ(converted.size(), saved.size());
  for (const auto& [name, tensor] : saved) {
    ASSERT_TRUE(converted.count(name)) << name;
    EXPECT_TRUE(torch::equal(converted[name], tensor)) << name;
  }
  // An existing file is replaced only with --force: not a checkpoint's weights by a slip.
  const auto checkpoint = out / "checkpoints/step-000002/model.safetensors";
  const std::string weights = testing::read_text(checkpoint);
  auto over = run_command(exe() + " model convert " + (dir.path() / "model.pt").string() + " " + checkpoint.string());
  EXPECT_EQ(over.status, 2) << over.output;
  EXPECT_THAT(over.output, HasSubstr(checkpoint.string() + " exists: name a new file, or pass --force"));
  EXPECT_EQ(testing::read_text(checkpoint), weights);
  auto forced = run_command(exe() + " model convert " + checkpoint.string() + " " + (dir.path() / "model.pt").string() +
                            " --force");
  EXPECT_EQ(forced.status, 0) << forced.output;
}

// `run` predicts from unit costs measured on this machine unless told
// otherwise, and says so; the main job's every device then peaks within 5 %
// of its prediction. `plan`, which imagines its devices, keeps the estimates.
TEST(Cli, RunPredictsFromMeasuredCostsByDefaultAndPlanFromEstimates) {
  TempDir dir;
  auto out = dir.path() / "run";
  auto result = run_command(quick_run("balanced.toml", out, 4));
  ASSERT_EQ(result.status, 0) << result.output;
  auto plan = nlohmann::json::parse(testing::read_text(out / "plan.json"));
  const std::string costs = plan["costs"];
  ASSERT_THAT(costs, ::testing::StartsWith("measured (profile "));
  EXPECT_TRUE(std::filesystem::exists(costs.substr(18, costs.size() - 19))) << costs;
  EXPECT_THAT(testing::read_text(out / "report.md"), HasSubstr("Unit costs: " + costs + "."));
  std::vector<double> peak(plan["devices"].size(), 0.0);
  std::istringstream metrics(testing::read_text(out / "metrics.jsonl"));
  for (std::string text; std::getline(metrics, text);) {
    auto line = nlohmann::json::parse(text);
    if (!line.contains("devices")) continue;
    for (std::size_t d = 0; d < peak.size(); ++d) peak[d] = std::max(peak[d], line["devices"][d]["peak_bytes"].get<double>());
  }
  for (std::size_t d = 0; d < peak.size(); ++d) {
    EXPECT_NEAR(plan["devices"][d]["predicted_peak_bytes"].get<double>() / peak[d], 1.0, 0.05) << "device " << d;
  }
  auto planned = run_command(exe() + " plan " + std::string(SOURCE_ROOT) + "/experiments/balanced.toml");
  ASSERT_EQ(planned.status, 0) << planned.output;
  EXPECT_THAT(planned.output, HasSubstr("unit costs: analytic (the model's estimates)\n"));
}

// The event file TensorBoard reads holds the numbers of metrics.jsonl: every
// record's checksums hold, and each step's scalars equal its line's values.
TEST(Cli, RunWritesTensorBoardScalarsEqualToTheMetrics) {
  TempDir dir;
  auto out = dir.path() / "run";
  auto result = run_command(quick_run("balanced.toml", out));
  ASSERT_EQ(result.status, 0) << result.output;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) files.push_back(entry.path());
  }
  ASSERT_EQ(files.size(), 1u);
  std::map<std::pair<std::string, std::int64_t>, float> scalars;
  for (const ScalarEvent& e : read_scalar_events(files[0])) scalars[{e.tag, e.step}] = e.value;
  std::istringstream metrics(testing::read_text(out / "metrics.jsonl"));
  int compared = 0;
  auto expect = [&](const std::string& tag, std::int64_t step, double value) {
    auto it = scalars.find({tag, step});
    ASSERT_NE(it, scalars.end()) << tag << " at step " << step;
    EXPECT_FLOAT_EQ(it->second, float(value)) << tag << " at step " << step;
    ++compared;
  };
  for (std::string text; std::getline(metrics, text);) {
    const auto line = nlohmann::json::parse(text);
    const std::int64_t step = line["step"];
    if (line.contains("eval")) {
      for (const auto& [name, value] : line["eval"].items()) expect("eval/" + name, step, value);
      continue;
    }
    for (const char* name : {"loss", "lr", "step_seconds", "samples_per_second"}) expect(name, step, line[name]);
    ASSERT_TRUE(line.contains("losses") && line.contains("grad_norms")) << text;
    for (const auto& [name, value] : line["losses"].items()) expect("losses/" + name, step, value);
    for (const auto& [name, value] : line["grad_norms"].items()) expect("grad_norm/" + name, step, value);
    for (std::size_t d = 0; d < line["devices"].size(); ++d) {
      expect("device" + std::to_string(d) + "/peak_mib", step, line["devices"][d]["peak_bytes"].get<double>() / (1 << 20));
      expect("device" + std::to_string(d) + "/bubble", step, line["devices"][d]["bubble"]);
    }
  }
  EXPECT_EQ(compared, int(scalars.size()));  // nothing in the file that metrics.jsonl lacks
  auto off = run_command(quick_run("single.toml", dir.path() / "quiet", 1) + " --set output.tensorboard=false");
  ASSERT_EQ(off.status, 0) << off.output;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "quiet")) {
    EXPECT_THAT(entry.path().filename().string(), Not(HasSubstr("tfevents")));
  }
}

// timeline.json and timeline.svg show what each device computed: its spans
// add up to the busy time the step measured (waits for inputs left out), and
// each span says what it ran. Memory reads in MiB for a tiny model.
TEST(Cli, TheRunsTimelineDrawsComputeNotWaits) {
  TempDir dir;
  auto out = dir.path() / "run";
  auto result = run_command(quick_run("balanced.toml", out));
  ASSERT_EQ(result.status, 0) << result.output;
  std::istringstream metrics(testing::read_text(out / "metrics.jsonl"));
  nlohmann::json last;
  for (std::string text; std::getline(metrics, text);) {
    auto line = nlohmann::json::parse(text);
    if (line.contains("devices")) last = line;
  }
  const auto timeline = nlohmann::json::parse(testing::read_text(out / "timeline.json"));
  std::vector<double> spans(last["devices"].size(), 0.0);
  for (const auto& a : timeline["actions"]) spans.at(a["device"].get<int>()) += a["end"].get<double>() - a["start"].get<double>();
  for (std::size_t d = 0; d < spans.size(); ++d) {
    EXPECT_NEAR(spans[d], last["devices"][d]["busy_seconds"].get<double>(), 1e-6) << "device " << d;
  }
  const std::string svg = testing::read_text(out / "timeline.svg");
  EXPECT_THAT(svg, HasSubstr("<title>forward of stage 0 (embed"));
  EXPECT_THAT(svg, HasSubstr("micro-batch 0, "));
  EXPECT_THAT(svg, HasSubstr("<title>planned: forward of stage 0 (embed"));
  EXPECT_THAT(testing::read_text(out / "memory.svg"), HasSubstr(">MiB</text>"));
}

// `bench step`: a training step against its floor, the units' FLOPs at the
// rate of a matrix product measured in the same run; the figures agree with
// each other, and no step beats the floor by half.
TEST(Cli, BenchStepComparesAStepWithItsFlopFloor) {
  auto result = run_command(stdout_of(exe() + " bench step " + std::string(SOURCE_ROOT) +
                            "/experiments/bench.toml --steps 1 --set train.batch_size=1"));
  ASSERT_EQ(result.status, 0) << result.output;
  const auto step = nlohmann::json::parse(result.output)["step"];
  const double seconds = step["step_seconds_median"], floor = step["floor_seconds"];
  EXPECT_GT(step["step_gflop"].get<double>(), 0);
  EXPECT_NEAR(floor, step["step_gflop"].get<double>() / step["matmul_1024_gflops"].get<double>(), 1e-9 + 1e-6 * floor);
  EXPECT_NEAR(step["ratio_to_floor"].get<double>(), seconds / floor, 1e-6 * seconds / floor);
  const double achieved = step["achieved_gflops"];
  EXPECT_NEAR(achieved, step["step_gflop"].get<double>() / seconds, 1e-6 * achieved);
  EXPECT_GT(seconds / floor, 0.5);
  // Where the time went: operators by self time (their own, less what they
  // called), so their shares of the steps' wall time sum to at most 1.
  const auto& ops = step["top_operators"];
  ASSERT_GE(ops.size(), 5u);
  double shares = 0, before = 1e9;
  for (const auto& op : ops) {
    EXPECT_LE(op["self_seconds_per_step"].get<double>(), before) << op["op"];
    before = op["self_seconds_per_step"];
    shares += op["share"].get<double>();
  }
  EXPECT_GT(shares, 0.2);
  EXPECT_LE(shares, 1.05);
  EXPECT_GT(step["products_gflop_per_step"].get<double>(), 0);
  EXPECT_LE(step["products_gflop_per_step"].get<double>(), step["step_gflop"].get<double>());
  // The products by operand shapes, each at its own rate; together no more than all products.
  const auto& products = step["top_products"];
  ASSERT_GE(products.size(), 3u);
  double share = 0;
  before = 1e9;
  for (const auto& p : products) {
    EXPECT_THAT(p["product"].get<std::string>(), ::testing::MatchesRegex("aten::(mm|addmm|bmm) [0-9x]+(\\^T)? \\* [0-9x]+(\\^T)?"));
    EXPECT_LE(p["self_seconds_per_step"].get<double>(), before) << p["product"];
    before = p["self_seconds_per_step"];
    EXPECT_GT(p["gflops"].get<double>(), 0) << p["product"];
    share += p["share"].get<double>();
  }
  EXPECT_LE(share, step["products_share"].get<double>() + 1e-9);
}

// `bench pipeline`: the whole model on one core against two stages on one
// core each (8 micro-batches unless --set says), with each stage's idle share
// of the step beside the plan's and the schedule's own, (p-1)/(m+p-1).
TEST(Cli, BenchPipelineComparesTwoStagesWithOneDevice) {
  auto result = run_command(stdout_of(exe() + " bench pipeline " + std::string(SOURCE_ROOT) +
                                      "/experiments/bench.toml --steps 1 "
                                      "--set train.frames=2 --set train.min_frames=2 --set train.image_height=56 "
                                      "--set train.image_width=56 --set placement.micro_batches=4"));
  ASSERT_EQ(result.status, 0) << result.output;
  const auto pipe = nlohmann::json::parse(result.output)["pipeline"];
  const double one = pipe["single_step_seconds"], two = pipe["pipeline_step_seconds"];
  EXPECT_NEAR(pipe["throughput_ratio"].get<double>(), one / two, 1e-9 * one / two);
  EXPECT_EQ(pipe["micro_batches"], 4);
  EXPECT_DOUBLE_EQ(pipe["ideal_bubble"].get<double>(), 1.0 / 5.0);  // 2 stages, 4 micro-batches
  const auto& measured = pipe["measured_bubble"];
  ASSERT_EQ(measured.size(), 2u);
  ASSERT_EQ(pipe["predicted_bubble"].size(), 2u);
  for (const auto& b : measured) {
    EXPECT_GE(b.get<double>(), 0);
    EXPECT_LT(b.get<double>(), 1);
  }
  EXPECT_DOUBLE_EQ(pipe["bottleneck_stage_bubble"].get<double>(),
                   std::min(measured[0].get<double>(), measured[1].get<double>()));
}

// `bench frames`: one device against frame-parallel over two, at the frames
// --set asks for (8 unless it says), each device holding part of the activations.
TEST(Cli, BenchFramesShardsEachScenesFramesOverTwoDevices) {
  auto result = run_command(stdout_of(exe() + " bench frames " + std::string(SOURCE_ROOT) +
                                      "/experiments/bench.toml --steps 1 "
                                      "--set train.frames=4 --set train.image_height=56 --set train.image_width=56"));
  ASSERT_EQ(result.status, 0) << result.output;
  const auto frames = nlohmann::json::parse(result.output)["frames"];
  EXPECT_EQ(frames["frames"], 4);
  const double one = frames["single_step_seconds"], two = frames["frame_parallel_step_seconds"];
  EXPECT_NEAR(frames["throughput_ratio"].get<double>(), one / two, 1e-9 * one / two);
  ASSERT_EQ(frames["frame_parallel_peak_bytes"].size(), 2u);
  for (const auto& peak : frames["frame_parallel_peak_bytes"]) {
    EXPECT_LT(peak.get<double>(), frames["single_peak_bytes"][0].get<double>());
  }
}

/// `vggt-lab bench NAME FILE` at a small step (2 frames of 56x56), its JSON.
nlohmann::json bench(const std::string& name, const std::string& experiment, const std::string& settings = "") {
  auto result = run_command(stdout_of(exe() + " bench " + name + " " + std::string(SOURCE_ROOT) + "/experiments/" +
                                      experiment + " --steps 1 --set train.frames=2 --set train.min_frames=2 " +
                                      "--set train.image_height=56 --set train.image_width=56 " + settings));
  EXPECT_EQ(result.status, 0) << result.output;
  return result.status == 0 ? nlohmann::json::parse(result.output) : nlohmann::json::object();
}

/// The largest relative error of the predictions `key` against the measured peaks.
double worst_error(const nlohmann::json& devices, const std::string& key) {
  double worst = 0;
  for (const auto& d : devices) {
    const double measured = d["measured_peak_bytes"];
    worst = std::max(worst, std::abs(d[key].get<double>() - measured) / measured);
  }
  return worst;
}

// `bench placement`: every built-in strategy trained on its devices, measured
// peaks beside the plan's, the balance and the errors computed from them.
TEST(Cli, BenchPlacementMeasuresEveryStrategyBesideItsPlan) {
  const auto rows = bench("placement", "bench_placement.toml", "--set model.depth=4 --set model.dpt_layers=[0,1,2,3]");
  ASSERT_EQ(rows["placement"].size(), 4u) << rows.dump();
  const std::vector<std::pair<std::string, std::size_t>> expected = {
      {"single", 1}, {"per-head", 4}, {"balanced-memory", 4}, {"pipeline", 4}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& row = rows["placement"][i];
    EXPECT_EQ(row["strategy"], expected[i].first);
    ASSERT_EQ(row["devices"].size(), expected[i].second) << row.dump();
    double max = 0, sum = 0;
    for (const auto& d : row["devices"]) {
      EXPECT_GT(d["measured_peak_bytes"].get<double>(), 0) << row.dump();
      max = std::max(max, d["measured_peak_bytes"].get<double>());
      sum += d["measured_peak_bytes"].get<double>();
    }
    EXPECT_NEAR(row["max_over_mean"].get<double>(), max / (sum / double(row["devices"].size())), 1e-9);
    EXPECT_NEAR(row["worst_prediction_error"].get<double>(), worst_error(row["devices"], "predicted_peak_bytes"), 1e-9);
    EXPECT_NEAR(row["worst_analytic_error"].get<double>(), worst_error(row["devices"], "analytic_peak_bytes"), 1e-9);
    EXPECT_LT(row["worst_prediction_error"].get<double>(), 0.25) << row.dump();  // from costs measured here
    EXPECT_GT(row["measured_step_seconds"].get<double>(), 0);
  }
}

// `bench data`, `bench overhead` and `bench data-parallel`: their ratios are
// those of the times they measured, and reducing after backward hides nothing.
TEST(Cli, BenchDataOverheadAndDataParallelReportTheirOwnRatios) {
  const auto data = bench("data", "bench.toml", "--set train.batch_size=8")["data"];
  ASSERT_EQ(data.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(data[i]["workers"], i + 1);
    EXPECT_NEAR(data[i]["scenes_per_second"].get<double>(), 8 * data[i]["batches_per_second"].get<double>(), 1e-6);
  }
  const auto overhead = bench("overhead", "bench.toml")["overhead"];
  EXPECT_NEAR(overhead["overhead"].get<double>(),
              overhead["vggt_lab_seconds"].get<double>() / overhead["handwritten_seconds"].get<double>() - 1, 1e-9);
  const auto dp = bench("data-parallel", "bench.toml")["data-parallel"];
  const double one = dp["one_rank_scenes_per_second"], two = dp["two_ranks_scenes_per_second"];
  EXPECT_NEAR(dp["speedup"].get<double>(), two / one, 1e-9);
  EXPECT_NEAR(dp["scaling_efficiency"].get<double>(), two / one / 2, 1e-9);
  EXPECT_EQ(dp["allreduce"]["ranks"], 2);
  EXPECT_EQ(dp["allreduce"]["steps"], 9);  // 10 steps, the first left out
  const double hidden = dp["allreduce"]["hidden"];
  EXPECT_GE(hidden, 0);
  EXPECT_LE(hidden, 1);
  EXPECT_EQ(dp["allreduce_after_backward"]["hidden"], 0.0);
  EXPECT_DOUBLE_EQ(dp["allreduce_after_backward"]["exposed_seconds_per_step"].get<double>(),
                   dp["allreduce_after_backward"]["seconds_per_step"].get<double>());
}

// `plan --svg`: the units along the DAG coloured by device, with what each
// costs on hover, each device's predicted memory, and the predicted schedule.
TEST(Cli, PlanDrawsTheLayout) {
  TempDir dir;
  const auto svg = dir.path() / "layout.svg";
  auto result = run_command(exe() + " plan " + std::string(SOURCE_ROOT) + "/experiments/1b/per_head.toml -q --svg " +
                            svg.string());
  ASSERT_EQ(result.status, 0) << result.output;
  const std::string picture = testing::read_text(svg);
  EXPECT_THAT(picture, HasSubstr("<title>block.23 on device 0: "));
  EXPECT_THAT(picture, HasSubstr("<title>point_head on device 3: "));
  EXPECT_THAT(picture, HasSubstr(">depth</text>"));
  EXPECT_THAT(picture, HasSubstr("Predicted peak memory per device"));
  EXPECT_THAT(picture, HasSubstr("<title>backward of stage 0 (embed..block.23), micro-batch 0</title>"));
  EXPECT_THAT(picture, HasSubstr(">GiB</text>"));
}

// `compare`: two runs of different layouts in one table, and overlaid plots.
TEST(Cli, CompareShowsRunsSideBySide) {
  TempDir dir;
  for (const char* layout : {"single", "pipeline"}) {
    auto run = run_command(quick_run(std::string(layout) + ".toml", dir.path() / layout));
    ASSERT_EQ(run.status, 0) << run.output;
  }
  auto result = run_command(exe() + " compare " + (dir.path() / "single").string() + " " +
                            (dir.path() / "pipeline").string() + " --out " + (dir.path() / "cmp").string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("| single | single | 1 | "));
  EXPECT_THAT(result.output, HasSubstr("| pipeline | pipeline | "));
  EXPECT_THAT(result.output, HasSubstr("depth_abs_rel"));
  const std::string loss = testing::read_text(dir.path() / "cmp" / "loss.svg");
  EXPECT_THAT(loss, HasSubstr(">single</text>"));
  EXPECT_THAT(loss, HasSubstr(">pipeline</text>"));
  for (const char* file : {"compare.md", "throughput.svg", "memory.svg"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "cmp" / file)) << file;
  }
  auto missing = run_command(exe() + " compare " + dir.path().string());
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.output, HasSubstr("plan.json is missing: compare run folders"));
  // An earlier comparison is written again; a folder of other files is not written into.
  const std::string runs = " compare " + (dir.path() / "single").string() + " " + (dir.path() / "pipeline").string();
  EXPECT_EQ(run_command(exe() + runs + " --out " + (dir.path() / "cmp").string()).status, 0);
  dir.write("mine/loss.svg", "<svg/>");
  auto foreign = run_command(exe() + runs + " --out " + (dir.path() / "mine").string());
  EXPECT_EQ(foreign.status, 2);
  EXPECT_THAT(foreign.output, HasSubstr("holds files that are not a comparison's (loss.svg)"));
  EXPECT_EQ(testing::read_text(dir.path() / "mine" / "loss.svg"), "<svg/>");
}

/// Scenes per second over a run's steps after the first, from its metrics.jsonl.
double steps_throughput(const std::filesystem::path& run) {
  std::istringstream lines(testing::read_text(run / "metrics.jsonl"));
  double scenes = 0, seconds = 0;
  for (std::string text; std::getline(lines, text);) {
    const auto line = nlohmann::json::parse(text);
    if (!line.contains("devices") || line["step"] == 1) continue;
    scenes += line["batch"].get<double>();
    seconds += line["step_seconds"].get<double>();
  }
  return scenes / seconds;
}

// `compare` on runs that did not finish: one whose loss became NaN, one still
// going or killed (no summary.json yet, or one older than its last step).
TEST(Cli, CompareShowsRunsThatStoppedEarlyOrAreStillGoing) {
  TempDir dir;
  const auto done = dir.path() / "done", diverged = dir.path() / "diverged";
  ASSERT_EQ(run_command(quick_run("single.toml", done, 3)).status, 0);
  auto nan = run_command(quick_run("single.toml", diverged, 8) + " --set optim.lr=1e6 --set optim.start_lr=1e6");
  ASSERT_EQ(nan.status, 1) << nan.output;
  const auto killed = dir.path() / "killed", resumed = dir.path() / "resumed";
  for (const auto& copy : {killed, resumed}) std::filesystem::copy(done, copy, std::filesystem::copy_options::recursive);
  std::filesystem::remove(killed / "summary.json");
  auto summary = nlohmann::json::parse(testing::read_text(resumed / "summary.json"));
  summary["steps"] = 2;  // written by an earlier session of a run resumed since
  std::ofstream(resumed / "summary.json") << summary.dump();

  auto result = run_command(exe() + " compare " + done.string() + " " + diverged.string() + " " + killed.string() +
                            " " + resumed.string() + " --out " + (dir.path() / "cmp").string());
  ASSERT_EQ(result.status, 0) << result.output;
  std::ostringstream rate;
  rate.precision(4);
  rate << steps_throughput(done);
  EXPECT_THAT(result.output, HasSubstr("| done | single | 1 | 3 | finished | " + rate.str() + " | "));
  EXPECT_THAT(result.output, HasSubstr("the loss is nan"));
  EXPECT_THAT(result.output, HasSubstr("| not finite |"));
  EXPECT_THAT(result.output, HasSubstr("| killed | single | 1 | 3 | no summary after step 3: running, or killed |"));
  EXPECT_THAT(result.output, HasSubstr("| resumed | single | 1 | 3 | no summary after step 3: running, or killed |"));
  EXPECT_THAT(testing::read_text(dir.path() / "cmp" / "loss.svg"), HasSubstr(">diverged</text>"));

  const std::string own = testing::read_text(done / "loss.svg");
  auto into_run = run_command(exe() + " compare " + done.string() + " " + killed.string() + " --out " + done.string());
  EXPECT_EQ(into_run.status, 2);
  EXPECT_THAT(into_run.output, HasSubstr("is a run folder"));
  EXPECT_EQ(testing::read_text(done / "loss.svg"), own);
}

TEST(Cli, RunRefusesToOverwriteAnExistingRun) {
  TempDir dir;
  auto out = dir.path() / "run";
  ASSERT_EQ(run_command(quick_run("single.toml", out, 1)).status, 0);
  auto again = run_command(quick_run("single.toml", out, 1));
  EXPECT_EQ(again.status, 2);
  EXPECT_THAT(again.output, HasSubstr("already holds a run"));
  // A folder of other files is not written into; one left by a run stopped
  // before its configuration (a lock and a log) is.
  dir.write("mine/notes.txt", "keep\n");
  auto foreign = run_command(quick_run("single.toml", dir.path() / "mine", 1));
  EXPECT_EQ(foreign.status, 2);
  EXPECT_THAT(foreign.output, HasSubstr("holds files that are not a run's (notes.txt)"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path() / "mine"), std::filesystem::directory_iterator()), 1);
  dir.write("early/.lock", "");
  dir.write("early/run.log", "");
  EXPECT_EQ(run_command(quick_run("single.toml", dir.path() / "early", 1)).status, 0);
}

// Two runs of one experiment started in the same second (a script starting
// several) each get a folder of their own: <name>-<time>, then <name>-<time>-2.
TEST(Cli, RunsStartedInTheSameSecondGetFoldersOfTheirOwn) {
  TempDir dir;
  const auto now = std::chrono::system_clock::now();
  std::vector<std::string> taken;
  for (int s = 0; s < 10; ++s) {  // this second and the next nine hold runs already
    std::time_t t = std::chrono::system_clock::to_time_t(now + std::chrono::seconds(s));
    std::tm local{};
    localtime_r(&t, &local);
    char name[64];
    std::strftime(name, sizeof name, "single-%Y%m%d-%H%M%S", &local);
    taken.push_back(name);
    dir.write(std::string("runs/") + name + "/config.resolved.toml", "# another run\n");
  }
  auto result = run_command(exe() + " run " + std::string(SOURCE_ROOT) + "/experiments/single.toml -q --set output.dir=" +
                            (dir.path() / "runs").string() + " --set train.steps=1 --set train.eval_scenes=0");
  ASSERT_EQ(result.status, 0) << result.output;
  int mine = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "runs")) {
    const std::string name = entry.path().filename().string();
    if (std::filesystem::exists(entry.path() / "metrics.jsonl")) {
      ++mine;
      EXPECT_EQ(name.substr(name.size() - 2), "-2") << name;
      EXPECT_NE(std::find(taken.begin(), taken.end(), name.substr(0, name.size() - 2)), taken.end()) << name;
    } else {
      EXPECT_EQ(testing::read_text(entry.path() / "config.resolved.toml"), "# another run\n") << name;
    }
  }
  EXPECT_EQ(mine, 1);
}

TEST(Cli, RunNamesTheMissingTable) {
  TempDir dir;
  auto file = dir.write("ok.toml", "[placement]\nplugin = \"single\"\n");
  auto result = run_command(exe() + " run " + file.string() + " --out " + (dir.path() / "run").string());
  EXPECT_EQ(result.status, 2);
  EXPECT_THAT(result.output, HasSubstr("has no [model] table"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "run"));
}

TEST(Cli, DataExportNeverWritesIntoAFolderThatHoldsAnything) {
  TempDir dir;
  auto kept = dir.write("data/scene-0000/cameras.json", "{\"mine\": true}\n");
  auto refused = run_command(exe() + " data export " + std::string(SOURCE_ROOT) +
                             "/experiments/single.toml --scenes 1 -q --out " + (dir.path() / "data").string());
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("is not an empty folder"));
  EXPECT_EQ(testing::read_text(kept), "{\"mine\": true}\n");
}

// An experiment including another that names one plugin may name another:
// the options written for the first that the second does not take are
// dropped; those it takes carry over; ones written after the switch are checked.
TEST(Cli, SwitchingAPluginDropsTheOptionsWrittenForTheOldOne) {
  TempDir dir;
  const std::string experiments = std::string(SOURCE_ROOT) + "/experiments/";
  ASSERT_EQ(run_command(exe() + " data export " + experiments + "single.toml --scenes 2 -q --out " +
                        (dir.path() / "scenes").string()).status, 0);
  auto file = dir.write("folder.toml", "include = [\"" + experiments + "single.toml\"]\n[data]\nplugin = "
                                       "\"scene-folder\"\nroot = \"" + (dir.path() / "scenes").string() + "\"\n");
  auto trained = run_command(exe() + " run " + file.string() + " --out " + (dir.path() / "run").string() +
                             " --set train.steps=1 --set train.eval_scenes=0 -q");
  ASSERT_EQ(trained.status, 0) << trained.output;  // base.toml's [data] scenes = 200 was for synthetic-scenes
  EXPECT_THAT(testing::read_text(dir.path() / "run" / "config.resolved.toml"), Not(HasSubstr("scenes = 200")));
  auto written_after = run_command(exe() + " plan " + file.string() + " --set data.scenes=3");
  EXPECT_EQ(written_after.status, 2);
  EXPECT_THAT(written_after.output, HasSubstr("--set data.scenes=3: unknown key 'scenes' in [data]"));
  // pipeline's frame_shards carries over to balanced-memory, which takes it; micro_batches does not.
  auto pipeline = dir.write("pipe.toml", "include = [\"" + experiments + "single.toml\"]\n[devices]\ncount = 4\n"
                                         "[placement]\nplugin = \"pipeline\"\nmicro_batches = 2\nframe_shards = 2\n");
  auto switched = run_command(exe() + " plan " + pipeline.string() + " --json --set placement.plugin=balanced-memory");
  ASSERT_EQ(switched.status, 0) << switched.output;
  const auto plan = nlohmann::json::parse(switched.output);
  ASSERT_FALSE(plan["stages"].empty());
  for (const auto& stage : plan["stages"]) EXPECT_EQ(stage["frame_group"].size(), 1u) << stage.dump();
}

TEST(Cli, MissingFileAndBadArgumentsExit2) {
  auto missing = run_command(exe() + " run /nonexistent/exp.toml");
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.output, HasSubstr("experiment file '/nonexistent/exp.toml' does not exist, nor does the folder"));
  // A misspelt file or a folder: the experiments beside it.
  const std::string experiments = std::string(SOURCE_ROOT) + "/experiments/1b";
  auto misspelt = run_command(exe() + " plan " + experiments + "/frame.toml");
  EXPECT_EQ(misspelt.status, 2);
  EXPECT_THAT(misspelt.output, HasSubstr("does not exist (did you mean '" + experiments + "/frames.toml'?)"));
  auto folder = run_command(exe() + " plan " + experiments);
  EXPECT_EQ(folder.status, 2);
  EXPECT_THAT(folder.output, HasSubstr("is a folder: name an experiment file in it (balanced.toml, base.toml, "));
  EXPECT_EQ(run_command(exe() + " run").status, 2);
  EXPECT_EQ(run_command(exe() + " frobnicate").status, 2);
  // Counts out of range are refused before any work, naming the option.
  const std::string file = std::string(SOURCE_ROOT) + "/experiments/single.toml";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--devices", "plan " + file + " --devices 0"},
      {"--steps", "bench step " + file + " --steps 0"},
      {"--scenes", "data export " + file + " --out /nonexistent --scenes -1"},
      {"--repeat", "profile " + file + " --repeat -2"},
      {"--jobs", "sweep " + file + " --out /nonexistent --jobs 0"},
      {"--conf-percentile", "infer --config " + file + " --images . --out /nonexistent --conf-percentile 150"}};
  for (const auto& [option, args] : cases) {
    auto bad = run_command(exe() + " " + args);
    EXPECT_EQ(bad.status, 2) << args << "\n" << bad.output;
    EXPECT_THAT(bad.output, HasSubstr(option + ":")) << args;
  }
}

TEST(Cli, PluginsJsonListsWhatIsBuiltWithOptionSchemas) {
  auto result = run_command(stdout_of(exe() + " plugins --json"));
  ASSERT_EQ(result.status, 0) << result.output;
  auto plugins = nlohmann::json::parse(result.output);
  auto single = std::find_if(plugins.begin(), plugins.end(), [](const auto& p) {
    return p["kind"] == "placement" && p["name"] == "single";
  });
  ASSERT_NE(single, plugins.end()) << result.output;
  EXPECT_THAT((*single)["file"].get<std::string>(), HasSubstr("vggt_lab_plugin_placement_single.so"));
  ASSERT_EQ((*single)["options"].size(), 1u);
  EXPECT_EQ((*single)["options"][0]["key"], "device");
  EXPECT_EQ((*single)["options"][0]["type"], "integer");
  EXPECT_EQ((*single)["options"][0]["default"], 0);
}

TEST(Cli, PluginPathAddsFoldersAndKindFilters) {
  auto result = run_command(exe() + " plugins --kind placement --json --plugin-path " +
                            testing::test_plugin_dir("test_good").string());
  ASSERT_EQ(result.status, 0) << result.output;
  auto plugins = nlohmann::json::parse(result.output);
  std::vector<std::string> names;
  for (const auto& p : plugins) names.push_back(p["name"]);
  EXPECT_THAT(names, ::testing::Contains("test-good"));
  EXPECT_THAT(names, ::testing::Contains("single"));
}

TEST(Cli, PluginsShowPrintsDocAndOptions) {
  auto result = run_command(exe() + " plugins show placement single");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("device (integer, default 0, >= 0)"));
  auto unknown = run_command(exe() + " plugins show placement singel");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_THAT(unknown.output, HasSubstr("did you mean 'single'?"));
  // The name alone, when one kind has it.
  auto by_name = run_command(exe() + " plugins show single");
  ASSERT_EQ(by_name.status, 0) << by_name.output;
  EXPECT_EQ(by_name.output, result.output);
  auto misspelt = run_command(exe() + " plugins show balanced");
  EXPECT_EQ(misspelt.status, 2);
  EXPECT_THAT(misspelt.output, HasSubstr("no plugin is called 'balanced' (did you mean 'balanced-memory'?)"));
  auto ambiguous = run_command(exe() + " plugins show test-two-b --plugin-path " +
                               testing::test_plugin_dir("test_two_plugins").string());
  EXPECT_EQ(ambiguous.status, 2);
  EXPECT_THAT(ambiguous.output, HasSubstr("'test-two-b' is a plugin of several kinds (placement, gradient): say which"));
}

// What a scaffold holds is built and run by tests/install; here, what it refuses.
TEST(Cli, PluginsNewWritesEveryKindButModelAndNeverOverwrites) {
  TempDir dir;
  const std::string in = " --dir " + dir.path().string();
  auto model = run_command(exe() + " plugins new model my-model" + in);
  EXPECT_EQ(model.status, 2);
  EXPECT_THAT(model.output, HasSubstr("writes placement, data, gradient, optimizer plugins; got kind 'model' "
                                      "(a model plugin starts from plugins/models/vggt"));
  EXPECT_THAT(run_command(exe() + " plugins new dta my-data" + in).output, HasSubstr("did you mean 'data'?"));
  EXPECT_THAT(run_command(exe() + " plugins new data 'my data'" + in).output,
              HasSubstr("must start with a letter and hold letters, digits, '-' and '_' only"));
  auto data = run_command(exe() + " plugins new data my-data" + in);
  ASSERT_EQ(data.status, 0) << data.output;
  EXPECT_THAT(data.output, HasSubstr("--set data.plugin=my-data"));
  EXPECT_THAT(testing::read_text(dir.path() / "my-data" / "my_data.cpp"),
              HasSubstr("VGGT_LAB_PLUGIN(\"data\", \"my-data\", \"0.1\", register_plugins)"));
  auto again = run_command(exe() + " plugins new gradient my-data" + in);
  EXPECT_EQ(again.status, 2);
  EXPECT_THAT(again.output, HasSubstr("already exists"));
}

TEST(Cli, ABrokenPluginOnThePathIsAnErrorNamingIt) {
  auto result = run_command(exe() + " plugins --plugin-path " +
                            testing::test_plugin_dir("test_bad_api").string());
  EXPECT_EQ(result.status, 2);
  EXPECT_THAT(result.output, HasSubstr("plugin API version 999"));
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* command : {"run", "plan", "sweep", "infer", "data export", "model", "plugins",
                              "launch", "version", "model keys", "model show", "model convert"}) {
    auto result = run_command(exe() + " " + command + " --help");
    EXPECT_EQ(result.status, 0) << command << ": " << result.output;
    EXPECT_THAT(result.output, HasSubstr("Usage")) << command;
  }
}

TEST(Cli, ShippedExperimentsRunAndTheFullSizeOnesPlanToFit) {
  for (const char* name : {"balanced.toml", "per_head.toml", "pipeline.toml"}) {
    TempDir dir;
    auto result = run_command(quick_run(name, dir.path() / "run"));
    EXPECT_EQ(result.status, 0) << name << ": " << result.output;
  }
  for (const char* name : {"1b/balanced.toml", "1b/per_head.toml", "1b/pipeline.toml"}) {
    auto result = run_command(exe() + " plan " + std::string(SOURCE_ROOT) + "/experiments/" + name + " --json");
    ASSERT_EQ(result.status, 0) << name << ": " << result.output;
    auto plan = nlohmann::json::parse(result.output);
    EXPECT_TRUE(plan["fits"].get<bool>()) << name;
    EXPECT_EQ(plan["devices"].size(), 4u) << name;
  }
}

// Logical devices on one physical device share its processor in the time
// prediction, and plan says so; separate GPUs share nothing.
TEST(Cli, PlanSaysWhichLogicalDevicesShareAProcessor) {
  auto cpu = run_command(exe() + " plan " + std::string(SOURCE_ROOT) + "/experiments/balanced.toml -q");
  ASSERT_EQ(cpu.status, 0) << cpu.output;
  EXPECT_THAT(cpu.output, HasSubstr("shared: devices 0, 1, 2, 3 on cpu run "));
  auto gpus = run_command(exe() + " plan " + std::string(SOURCE_ROOT) + "/experiments/1b/balanced.toml -q");
  ASSERT_EQ(gpus.status, 0) << gpus.output;
  EXPECT_THAT(gpus.output, Not(HasSubstr("shared:")));
}

TEST(Cli, PlanRefusesWhatDoesNotFitWithStatus1) {
  auto result = run_command(exe() + " plan " + std::string(SOURCE_ROOT) +
                            "/experiments/1b/per_head.toml --device-memory 20GiB");
  EXPECT_EQ(result.status, 1);
  EXPECT_THAT(result.output, HasSubstr("does not fit: device 0 (cuda:0) needs"));
  EXPECT_THAT(result.output, HasSubstr("but has 20.00 GiB"));
}

}  // namespace
}  // namespace vggt_lab

namespace vggt_lab {
namespace {

TEST(CliModel, ShowListsUnitsWithTheirModulesAndCounts) {
  auto result = testing::run_command(testing::vggt_lab_exe() + " model show " +
                                     std::string(SOURCE_ROOT) +
                                     "/experiments/balanced.toml --set model.preset=1b --set model.enable_track=true -q");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, ::testing::HasSubstr("model vggt: 1,256,537,516 parameters in 1797 tensors, 29 units"));
  EXPECT_THAT(result.output, ::testing::HasSubstr("\nblock.23  25,197,056\n  aggregator.frame_blocks.23  12,598,528"));
}

TEST(CliModel, ConvertWritesBothFormatsAndRejectsUnknownOnes) {
  testing::TempDir dir;
  std::string input = std::string(SOURCE_ROOT) + "/tests/fixtures/checkpoints/checkpoint.pt";
  auto to_st = testing::run_command(testing::vggt_lab_exe() + " model convert " + input + " " +
                                    (dir.path() / "m.safetensors").string());
  ASSERT_EQ(to_st.status, 0) << to_st.output;
  EXPECT_THAT(to_st.output, ::testing::HasSubstr("wrote 4 tensors"));
  auto back = testing::run_command(testing::vggt_lab_exe() + " model convert " +
                                   (dir.path() / "m.safetensors").string() + " " +
                                   (dir.path() / "m.pt").string());
  EXPECT_EQ(back.status, 0) << back.output;
  auto bad = testing::run_command(testing::vggt_lab_exe() + " model convert " + input + " " +
                                  (dir.path() / "m.bin").string());
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.output, ::testing::HasSubstr("name it *.safetensors or *.pt"));
}

}  // namespace
}  // namespace vggt_lab
