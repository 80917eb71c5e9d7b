// Sweeps as users run them: the 1B plan-mode sweep, a measure-mode sweep that
// resumes without re-running finished trials, failures that do not stop it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "host/child.hpp"
#include "support/support.hpp"
#include "sweep/sweep.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  nlohmann::json out;
  in >> out;
  return out;
}

std::string exe() { return testing::vggt_lab_exe(); }

/// A measure-mode sweep of 2-step runs of single.toml with 2 and 3 frames.
std::filesystem::path two_measured_trials(const testing::TempDir& dir, int steps = 2) {
  return dir.write("s.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) +
                                 "/experiments/single.toml\"\nmode = \"measure\"\nsteps = " +
                                 std::to_string(steps) + "\n"
                                 "[axes]\n\"train.frames\" = [2, 3]\n");
}

TEST(Sweep, PlansTheOneBillionModelOnFourAndEightGpusAndWritesARunnableBest) {
  testing::TempDir dir;
  auto out = dir.path() / "sweep";
  auto result = testing::run_command(exe() + " sweep " + std::string(SOURCE_ROOT) + "/experiments/1b/sweep.toml --out " +
                                     out.string() + " -q");
  ASSERT_EQ(result.status, 0) << result.output;
  auto results = read_json(out / "results.json");
  EXPECT_GE(results["trials"].size(), 20u);
  int fit = 0;
  for (const auto& t : results["trials"]) fit += t["fits"].get<bool>();
  EXPECT_GT(fit, 0);
  EXPECT_LT(fit, int(results["trials"].size()));  // some do not fit: the cap bites
  for (const char* file : {"results.csv", "report.md", "pareto.svg", "best.toml"}) {
    EXPECT_TRUE(std::filesystem::exists(out / file)) << file;
  }
  auto plan = testing::run_command(exe() + " plan " + (out / "best.toml").string() + " -q");
  EXPECT_EQ(plan.status, 0) << plan.output;
  // Of the 384 grid points, 128 differ only in micro_batches, which per-head
  // and balanced-memory do not take, and 64 in micro_batches = 8 with batch 4,
  // which plans as 4: they merge into their twins.
  EXPECT_EQ(results["merged_trials"].get<int>(), 192);
}

// A planning sweep whose conditions changed (here its memory cap) plans every
// trial again rather than reusing what was planned under the old ones.
TEST(Sweep, APlanningSweepPlansAgainWhenItsConditionsChange) {
  testing::TempDir dir;
  auto sweep_with_cap = [&](const std::string& cap) {
    return dir.write("s.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) + "/experiments/single.toml\"\n"
                               "memory_cap = \"" + cap + "\"\n[axes]\n\"train.frames\" = [2, 3]\n");
  };
  auto out = dir.path() / "out";
  for (const auto& [cap, fits] : {std::pair{"64GiB", true}, {"1MiB", false}}) {
    auto result = testing::run_command(exe() + " sweep " + sweep_with_cap(cap).string() + " --out " + out.string());
    ASSERT_EQ(result.status, 0) << result.output;
    const auto trials = read_json(out / "results.json")["trials"];
    ASSERT_EQ(trials.size(), 2u);
    for (const auto& t : trials) EXPECT_EQ(t["fits"].get<bool>(), fits) << cap << " " << t.dump();
    if (!fits) EXPECT_THAT(result.output, HasSubstr("planning every trial again"));
  }
  // A folder of other files is not a sweep's to write into.
  dir.write("mine/report.md", "my notes\n");
  auto foreign = testing::run_command(exe() + " sweep " + sweep_with_cap("64GiB").string() + " --out " +
                                      (dir.path() / "mine").string());
  EXPECT_EQ(foreign.status, 2);
  EXPECT_THAT(foreign.output, HasSubstr("holds files that are not a sweep's (report.md)"));
  EXPECT_EQ(testing::read_text(dir.path() / "mine" / "report.md"), "my notes\n");
}

// search = "beam": better split points become trials of their own, each
// predicted at least 1 % faster than the grid trial it was searched from.
TEST(Sweep, SplitSearchAddsBetterSplitsBeyondTheGrid) {
  testing::TempDir dir;
  auto sweep = dir.write("s.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) +
                                       "/experiments/1b/balanced.toml\"\nmemory_cap = \"80GiB\"\nsearch = \"beam\"\n"
                                       "[axes]\n\"placement.plugin\" = [\"pipeline\", \"per-head\"]\n"
                                       "\"devices.count\" = [4, 8]\n\"train.batch_size\" = [4]\n\"train.frames\" = [8]\n");
  auto out = dir.path() / "out";
  auto result = testing::run_command(exe() + " sweep " + sweep.string() + " --out " + out.string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("split search: 2 trial(s) searched"));  // per-head has no splits
  auto results = read_json(out / "results.json");
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& t : results["trials"]) by_id[t["id"]] = t;
  int searched = 0;
  for (const auto& t : results["trials"]) {
    if (!t.contains("searched_from")) continue;
    ++searched;
    const auto& origin = by_id.at(t["searched_from"].get<std::string>());
    EXPECT_EQ(origin["strategy"], "pipeline");
    EXPECT_GE(t["predicted_throughput"].get<double>(), 1.01 * origin["predicted_throughput"].get<double>());
    EXPECT_EQ(t["settings"].back().get<std::string>().rfind("placement.splits=[", 0), 0u) << t["settings"].dump();
    EXPECT_TRUE(t["fits"].get<bool>());
  }
  EXPECT_GE(searched, 1);
  EXPECT_EQ(results["trials"].size(), 4u + std::size_t(searched));
  std::ifstream report(out / "report.md");
  const std::string text((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, ::testing::ContainsRegex("split search from rank [1-9]\\)"));
  auto bad = dir.write("bad.toml", "[sweep]\nbase = \"s.toml\"\nsearch = \"dp\"\n[axes]\n\"devices.count\" = [2]\n");
  auto rejected = testing::run_command(exe() + " sweep " + bad.string() + " --out " + (dir.path() / "x").string());
  EXPECT_EQ(rejected.status, 2);
  EXPECT_THAT(rejected.output, HasSubstr("bad.toml:3:1: 'search' in [sweep] must be one of none, beam, got \"dp\""));
}

TEST(Sweep, MeasuresInChildProcessesResumesAndSurvivesFailures) {
  testing::TempDir dir;
  auto sweep = two_measured_trials(dir);
  auto out = dir.path() / "out";
  auto first = testing::run_command(exe() + " sweep " + sweep.string() + " --out " + out.string() + " -q");
  ASSERT_EQ(first.status, 0) << first.output;
  auto results = read_json(out / "results.json");
  ASSERT_EQ(results["trials"].size(), 2u);
  for (const auto& t : results["trials"]) {
    EXPECT_EQ(t["status"], "done") << t.dump();
    EXPECT_GT(t["measured_throughput"].get<double>(), 0);
  }
  // The measured runs side by side, best first, as `vggt-lab compare` shows them.
  const std::string compared = testing::read_text(out / "compare" / "compare.md");
  EXPECT_THAT(compared, HasSubstr("| #1 "));
  EXPECT_THAT(compared, HasSubstr("| #2 "));
  EXPECT_TRUE(std::filesystem::exists(out / "compare" / "loss.svg"));
  // Forget one trial: a second run measures only that one again.
  std::string kept = results["trials"][0]["id"], dropped = results["trials"][1]["id"];
  auto kept_log = out / "trials" / (kept + ".log");
  auto before = std::filesystem::last_write_time(kept_log);
  results["trials"].erase(1);
  std::ofstream(out / "results.json") << results.dump();
  auto second = testing::run_command(exe() + " sweep " + sweep.string() + " --out " + out.string() + " -q");
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(std::filesystem::last_write_time(kept_log), before);
  EXPECT_EQ(read_json(out / "results.json")["trials"].size(), 2u);
  // Trials of 2 steps are not results of a sweep of 3 steps: refused, kept.
  const std::string measured = testing::read_text(out / "results.json");
  auto longer = dir.write("s.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) +
                                        "/experiments/single.toml\"\nmode = \"measure\"\nsteps = 3\n"
                                        "[axes]\n\"train.frames\" = [2, 3]\n");
  for (const char* mode : {"measure", "plan"}) {
    auto mixed = testing::run_command(exe() + " sweep " + longer.string() + " --out " + out.string() + " --mode " +
                                      mode + " -q");
    EXPECT_EQ(mixed.status, 2) << mixed.output;
    EXPECT_THAT(mixed.output, HasSubstr(out.string() + " holds trials of another sweep, or of this one before its "
                                                        "base experiment, memory_cap or steps changed"));
  }
  EXPECT_EQ(testing::read_text(out / "results.json"), measured);
  // A trial that outlives its timeout is marked failed; the sweep goes on.
  auto slow = dir.write("slow.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) +
                                         "/experiments/single.toml\"\nmode = \"measure\"\ntimeout_s = 0.01\n"
                                         "[axes]\n\"train.frames\" = [2]\n");
  auto timed = testing::run_command(exe() + " sweep " + slow.string() + " --out " + (dir.path() / "slow").string() + " -q");
  ASSERT_EQ(timed.status, 0) << timed.output;
  auto t = read_json(dir.path() / "slow" / "results.json")["trials"][0];
  EXPECT_EQ(t["status"], "failed");
  EXPECT_THAT(t["reason"].get<std::string>(), HasSubstr("timed out"));
}

/// Starts `vggt-lab sweep SWEEP --out OUT` (log: DIR/sweep.log) leading a
/// process group of its own (setsid: signals to it reach its trial runs), and
/// returns once results.json lists a trial (`partial`), or after 2 minutes.
pid_t sweep_until_a_trial_is_done(const testing::TempDir& dir, const std::filesystem::path& sweep,
                                  const std::filesystem::path& out, nlohmann::json& partial) {
  const pid_t pid = start_child(
      {{"/usr/bin/setsid", exe(), "-q", "sweep", sweep.string(), "--out", out.string()}, {}, dir.path() / "sweep.log"});
  for (int polls = 0; polls < 1200 && partial["trials"].empty(); ++polls) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (std::filesystem::exists(out / "results.json")) partial = read_json(out / "results.json");
  }
  return pid;
}

// A measuring sweep stopped after its first trial keeps that trial in
// results.json, and the same command again measures only the other.
TEST(Sweep, AStoppedSweepKeepsTheTrialsItFinished) {
  testing::TempDir dir;
  auto sweep = two_measured_trials(dir);
  auto out = dir.path() / "out";
  nlohmann::json partial;
  const pid_t pid = sweep_until_a_trial_is_done(dir, sweep, out, partial);
  kill(-pid, SIGKILL);
  wait_child(pid);
  ASSERT_EQ(partial["trials"].size(), 1u) << testing::read_text(dir.path() / "sweep.log");
  EXPECT_EQ(partial["trials"][0]["status"], "done");
  const auto kept_log = out / "trials" / (partial["trials"][0]["id"].get<std::string>() + ".log");
  const auto before = std::filesystem::last_write_time(kept_log);
  auto again = testing::run_command(exe() + " sweep " + sweep.string() + " --out " + out.string() + " -q");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(std::filesystem::last_write_time(kept_log), before);
  EXPECT_EQ(read_json(out / "results.json")["trials"].size(), 2u);
}

// Ctrl-C (SIGINT to the sweep's process group, its trial run included) stops
// a measuring sweep after the trial running then: it exits 130 with a report
// on the finished trials, records no stopped trial as failed, and the same
// command again measures the rest. While it runs, a second sweep into its
// folder is refused.
TEST(Sweep, AnInterruptStopsAfterTheRunningTrialAndTheSweepContinues) {
  testing::TempDir dir;
  auto sweep = two_measured_trials(dir, 30);  // the second trial outlasts the second sweep's start on a loaded machine
  auto out = dir.path() / "out";
  nlohmann::json partial;
  const pid_t pid = sweep_until_a_trial_is_done(dir, sweep, out, partial);
  auto beside = testing::run_command(exe() + " sweep " + sweep.string() + " --out " + out.string() + " -q");
  kill(-pid, SIGINT);
  const ChildExit exit = wait_child(pid, 120);
  EXPECT_EQ(beside.status, 2) << beside.output;  // one sweep writes a folder at a time
  EXPECT_THAT(beside.output, HasSubstr(out.string() + " is in use by another vggt-lab process"));
  const std::string log = testing::read_text(dir.path() / "sweep.log");
  ASSERT_EQ(partial["trials"].size(), 1u) << log;
  EXPECT_EQ(exit.status, 128 + SIGINT) << log;
  EXPECT_THAT(log, HasSubstr("the same command again continues"));
  const auto stopped = read_json(out / "results.json")["trials"];
  ASSERT_GE(stopped.size(), 1u);  // the second trial too, when it finished before the signal reached it
  for (const auto& t : stopped) EXPECT_EQ(t["status"], "done") << t.dump();
  EXPECT_THAT(testing::read_text(out / "report.md"), HasSubstr("**Interrupted** (SIGINT)"));
  auto again = testing::run_command(exe() + " sweep " + sweep.string() + " --out " + out.string() + " -q");
  ASSERT_EQ(again.status, 0) << again.output;
  const auto all = read_json(out / "results.json")["trials"];
  ASSERT_EQ(all.size(), 2u);
  for (const auto& t : all) EXPECT_EQ(t["status"], "done") << t.dump();
  EXPECT_THAT(testing::read_text(out / "report.md"), Not(HasSubstr("Interrupted")));
}

TEST(Sweep, BadSweepFilesNameTheProblemWithItsPosition) {
  testing::TempDir dir;
  auto file = dir.write("bad.toml", "[sweep]\nbase = \"x.toml\"\nmod = \"plan\"\n[axes]\n\"placement.plugin\" = [\"single\"]\n");
  try {
    sweep::read_sweep(file);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(file.string() + ":3:"));
    EXPECT_THAT(e.what(), HasSubstr("unknown key 'mod'"));
  }
}

// A typo in [axes] stops the sweep before any trial, where the value is
// written; a value that fails in some combinations only marks those trials invalid.
TEST(Sweep, AxisValuesNoTrialCanUseAreRefusedWhereTheyAreWritten) {
  testing::TempDir dir;
  const std::string head = "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) + "/experiments/single.toml\"\n[axes]\n";
  auto sweep = [&](const std::string& name, const std::string& axes) {
    return testing::run_command(exe() + " sweep " + dir.write(name, head + axes).string() + " --out " +
                                (dir.path() / (name + ".out")).string() + " -q");
  };
  auto plugin = sweep("plugin.toml", "\"placement.plugin\" = [\"single\", \"nosuch\"]\n");
  EXPECT_EQ(plugin.status, 2) << plugin.output;
  EXPECT_THAT(plugin.output, HasSubstr("plugin.toml:4:33: placement.plugin=nosuch fails in every trial"));
  EXPECT_THAT(plugin.output, HasSubstr("unknown placement plugin 'nosuch'"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "plugin.toml.out"));
  auto key = sweep("key.toml", "\"placement.plugin\" = [\"single\", \"pipeline\"]\n\"placement.micro_batch\" = [2]\n");
  EXPECT_EQ(key.status, 2) << key.output;
  EXPECT_THAT(key.output, HasSubstr("key.toml:5:28: no [placement] plugin this sweep tries takes 'micro_batch'"));
  auto some = sweep("some.toml", "\"train.frames\" = [2, 4]\n\"train.min_frames\" = [2, 3]\n");
  ASSERT_EQ(some.status, 0) << some.output;
  EXPECT_THAT(some.output, HasSubstr("4 trial(s): 3 fit, 0 failed, 1 invalid"));
  const auto results = read_json(dir.path() / "some.toml.out" / "results.json");
  ASSERT_EQ(results["trials"].size(), 4u);
  for (const auto& t : results["trials"]) {
    const bool invalid = t["settings"] == nlohmann::json{"train.frames=2", "train.min_frames=3"};
    EXPECT_EQ(t["status"], invalid ? "invalid" : "planned") << t.dump();
    if (invalid) EXPECT_THAT(t["reason"].get<std::string>(), HasSubstr("must be at most frames (2)"));
  }
}

TEST(Sweep, ExcludeDropsTrialsHoldingEveryAssignmentOfAnEntry) {
  testing::TempDir dir;
  auto file = dir.write("s.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) + "/experiments/single.toml\"\n"
                                   "exclude = [{ \"placement.plugin\" = \"single\", \"devices.count\" = 4 }]\n"
                                   "[axes]\n\"placement.plugin\" = [\"single\", \"pipeline\"]\n"
                                   "\"devices.count\" = [2, 4]\n");
  auto trials = sweep::grid(sweep::read_sweep(file));
  ASSERT_EQ(trials.size(), 3u);  // 2 x 2, less single on 4 devices
  const sweep::Setting single{"placement", "plugin", "single"}, four{"devices", "count", "4"};
  for (const auto& t : trials) {
    EXPECT_FALSE(std::count(t.begin(), t.end(), single) && std::count(t.begin(), t.end(), four))
        << sweep::settings_text(t);
  }
  auto bad = dir.write("b.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) + "/experiments/single.toml\"\n"
                                  "exclude = [{ \"train.steps\" = 4 }]\n[axes]\n\"devices.count\" = [2, 4]\n");
  try {
    sweep::read_sweep(bad);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("b.toml:3:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not an axis"), std::string::npos) << e.what();
  }
}

// Trials load plugins from the folders the base experiment names, as `run` does.
TEST(Sweep, TrialsFindThePluginsTheBaseExperimentNames) {
  testing::TempDir dir;
  dir.write("base.toml", "include = [\"" + std::string(SOURCE_ROOT) + "/experiments/single.toml\"]\n[plugins]\n"
                         "search_path = [\"" + testing::test_plugin_dir("test_unknown_schedule").string() + "\"]\n");
  auto file = dir.write("s.toml", "[sweep]\nbase = \"base.toml\"\n[axes]\n"
                                   "\"placement.plugin\" = [\"single\", \"test-unknown-schedule\"]\n");
  auto out = dir.path() / "out";
  auto result = testing::run_command(exe() + " sweep " + file.string() + " --out " + out.string() + " -q");
  ASSERT_EQ(result.status, 0) << result.output;
  auto trials = read_json(out / "results.json")["trials"];
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_TRUE(trials[0]["fits"].get<bool>());
  EXPECT_FALSE(trials[1]["fits"].get<bool>());
  EXPECT_THAT(trials[1]["reason"].get<std::string>(), HasSubstr("schedule 'gpipe2' is unknown"));
}

// [sweep] is validated by its schema like an experiment's tables: a wrong
// type or value names file:line:col, and docs/sweeps.md shows every key.
TEST(Sweep, TheSweepTableIsCheckedByItsSchemaAndDocumentedKeyByKey) {
  testing::TempDir dir;
  auto file = dir.write("bad.toml", "[sweep]\nbase = \"" + std::string(SOURCE_ROOT) +
                                        "/experiments/single.toml\"\nsteps = 0\nmode = \"guess\"\n"
                                        "memory_cap = \"lots\"\n[axes]\n\"devices.count\" = [1]\n");
  try {
    sweep::read_sweep(file);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(file.string() + ":3:1: 'steps' in [sweep] must be at least 1"));
    EXPECT_THAT(e.what(), HasSubstr(file.string() + ":4:1: 'mode' in [sweep] must be one of plan, measure"));
    EXPECT_THAT(e.what(), HasSubstr(file.string() + ":5:1: 'memory_cap' in [sweep] must be a size such as"));
  }
  const std::string guide = testing::read_text(std::string(SOURCE_ROOT) + "/docs/sweeps.md");
  const std::string block = guide.substr(guide.find("[sweep]"), guide.find("[axes]") - guide.find("[sweep]"));
  for (const OptionSpec& spec : sweep::sweep_schema().specs()) {
    EXPECT_THAT(block, HasSubstr("\n" + spec.key + " ")) << "docs/sweeps.md does not show [sweep] " << spec.key;
  }
}

TEST(Sweep, SpearmanRankCorrelation) {
  EXPECT_DOUBLE_EQ(sweep::spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(sweep::spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(sweep::spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8, 1e-12);
}

}  // namespace
}  // namespace vggt_lab
