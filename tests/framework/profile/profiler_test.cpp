// The profiler measures each unit of the tiny VGGT on the CPU; plans made
// from its costs must predict every device's measured training peak, and a
// profile must calibrate the analytic estimates. Memory on the CPU is exact
// (the counting allocator), so tolerances cover modelling, not noise.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <thread>

#include "distributed/data_parallel.hpp"
#include "experiment/experiment.hpp"
#include "profile/costs.hpp"
#include "runtime/memory_meter.hpp"
#include "support/support.hpp"

namespace vggt_lab::profile {
namespace {

using ::testing::HasSubstr;

class ProfilerTest : public ::testing::Test {
 protected:
  vggt_lab::testing::TempDir dir;

  ResolvedConfig config(const std::vector<std::string>& extra) const {
    RawConfig raw;
    raw.file = dir.path() / "test.toml";
    std::vector<std::string> overrides = {
        "model.plugin=vggt",        "model.preset=tiny",          "model.enable_track=false",
        "data.plugin=synthetic-scenes", "placement.plugin=single", "train.batch_size=2",
        "train.frames=2",           "train.image_height=42",      "train.image_width=56",
        "costs.repeat=1",           "costs.cache=" + (dir.path() / "cache").string()};
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    for (const auto& o : overrides) apply_override(raw, o);
    return resolve_config(raw, vggt_lab::testing::builtin_plugins().registry());
  }

  PlanReport plan(const ResolvedConfig& c, const PlanUse& use = {}) const {
    return plan_from_config(c, vggt_lab::testing::builtin_plugins().registry(),
                            vggt_lab::testing::builtin_plugins().context(dir.path()), {}, use);
  }

  ProfileRequest request(const ResolvedConfig& c) const {
    PlanReport p = plan(c);
    return {&c, &vggt_lab::testing::builtin_plugins().registry(), vggt_lab::testing::builtin_plugins().context(dir.path()),
            p.topology, p.memory};
  }

  std::size_t cached_files(const std::string& cache = "cache") const {
    std::size_t n = 0;
    if (!std::filesystem::exists(dir.path() / cache)) return n;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path() / cache)) n += entry.is_regular_file();
    return n;
  }
};

TEST_F(ProfilerTest, MeasuresEveryUnitAndCachesPerConfiguration) {
  ResolvedConfig c = config({});
  Profile first = profile_experiment(request(c));
  ASSERT_EQ(first.units.size(), plan(c).graph.units.size());
  for (const UnitProfile& u : first.units) {
    EXPECT_GT(u.kept_bytes, 0) << u.unit;
    EXPECT_GT(u.forward_seconds, 0) << u.unit;
    EXPECT_GE(u.workspace_bytes, 0) << u.unit;
  }
  EXPECT_EQ(cached_files(), 1u);
  Profile again = profile_experiment(request(c));  // from the cache: the very same numbers
  EXPECT_EQ(again.key, first.key);
  EXPECT_EQ(again.units[3].forward_seconds, first.units[3].forward_seconds);
  EXPECT_EQ(cached_files(), 1u);
  ResolvedConfig more_frames = config({"train.frames=3"});
  EXPECT_NE(profile_key(request(more_frames)), first.key);
  Profile other = profile_experiment(request(more_frames));
  EXPECT_EQ(cached_files(), 2u);
  EXPECT_GT(other.units.back().kept_bytes, first.units.back().kept_bytes);
}

// Predicted (without optimizer state, which this run does not allocate)
// against the counting allocator's peak, per device: within 5 %, at a shape
// where activations outweigh the fixed costs as in real training.
TEST_F(ProfilerTest, MeasuredCostsPredictEveryDevicesPeakWithinFivePercent) {
  for (const std::string& strategy : {"single", "balanced-memory", "pipeline"}) {
    ResolvedConfig c = config({"costs.source=measured", "placement.plugin=" + strategy,
                               std::string("devices.count=") + (strategy == "single" ? "1" : "3"),
                               "train.frames=4", "train.image_height=112", "train.image_width=112"});
    PlanReport p = plan(c);
    auto measured = vggt_lab::testing::training_peaks(c, p);
    for (std::size_t d = 0; d < measured.size(); ++d) {
      const DeviceMemory& m = p.predicted[d];
      const double predicted = double(m.total() - m.optimizer);
      EXPECT_NEAR(predicted / double(measured[d]), 1.0, 0.05) << strategy << " device " << d;
    }
  }
}

// A plan that splits the step into micro-batches is timed from a profile at
// the micro-batch's size (times their count), not the step's: a unit's time is
// far from linear in the batch on a CPU.
TEST_F(ProfilerTest, MicroBatchedPlansAreTimedAtTheMicroBatchSize) {
  ResolvedConfig c = config({"costs.source=measured", "placement.plugin=pipeline", "devices.count=2",
                             "placement.micro_batches=2", "train.batch_size=4"});
  PlanReport p = plan(c);
  ASSERT_EQ(p.plan.micro_batches, 2);
  EXPECT_EQ(cached_files(), 2u);  // the step's profile and the micro-batch's
  ProfileRequest at_micro = request(c);
  at_micro.batch = 2;
  Profile micro = profile_experiment(at_micro);  // from the cache
  EXPECT_EQ(micro.shape.batch, 2);
  ASSERT_EQ(micro.units.size(), p.graph.units.size());
  for (std::size_t i = 0; i < micro.units.size(); ++i) {
    EXPECT_DOUBLE_EQ(p.graph.units[i].cost.forward_seconds, 2 * micro.units[i].forward_seconds) << micro.units[i].unit;
    EXPECT_DOUBLE_EQ(p.graph.units[i].cost.backward_seconds, 2 * micro.units[i].backward_seconds);
  }
  EXPECT_EQ(cached_files(), 2u);
}

// A frame-sharded stage's frame-local units (patch embedder, DPT heads) cost
// what they measure at the frames one device works on, scaled to all frames;
// global and whole units keep the step's measurement.
TEST_F(ProfilerTest, FrameShardedUnitsAreMeasuredAtTheirDevicesFrames) {
  ResolvedConfig c = config({"costs.source=measured", "placement.plugin=frame-parallel", "devices.count=2",
                             "train.frames=4"});
  PlanReport p = plan(c);
  EXPECT_EQ(cached_files(), 2u);  // the step's profile and the 2-frame one
  ProfileRequest step = request(c), at_shard = request(c);
  at_shard.frames = 2;
  std::map<std::string, UnitProfile> whole, half;
  for (auto& u : profile_experiment(step).units) whole[u.unit] = u;
  for (auto& u : profile_experiment(at_shard).units) half[u.unit] = u;
  EXPECT_EQ(cached_files(), 2u);
  int local = 0;
  for (const Unit& unit : p.graph.units) {
    const UnitProfile& expected = unit.split == FrameSplit::local ? half.at(unit.name) : whole.at(unit.name);
    const std::int64_t scale = unit.split == FrameSplit::local ? 2 : 1;
    local += unit.split == FrameSplit::local;
    EXPECT_EQ(unit.cost.activation_bytes, expected.kept_bytes * scale) << unit.name;
    EXPECT_EQ(unit.cost.workspace_bytes, expected.workspace_bytes * scale) << unit.name;
  }
  EXPECT_GE(local, 3);  // embed, depth_head, point_head
}

// [costs] source = "auto" (the default): a command that trains measures, and
// says so with the profile's file; one that only plans takes the estimates.
TEST_F(ProfilerTest, AutoMeasuresWhenTheCommandTrains) {
  ResolvedConfig c = config({"placement.plugin=balanced-memory", "devices.count=2"});
  PlanReport planned = plan(c);
  EXPECT_EQ(planned.costs, kAnalyticCosts);
  EXPECT_EQ(cached_files(), 0u);
  PlanReport trained = plan(c, {true});
  EXPECT_EQ(trained.costs, "measured (profile " + profile_file(request(c)).string() + ")");
  EXPECT_TRUE(std::filesystem::exists(profile_file(request(c))));
  PlanReport measured = plan(config({"placement.plugin=balanced-memory", "devices.count=2", "costs.source=measured"}));
  for (std::size_t d = 0; d < measured.predicted.size(); ++d) {
    EXPECT_EQ(trained.predicted[d].total(), measured.predicted[d].total()) << "device " << d;
    EXPECT_NE(trained.predicted[d].total(), planned.predicted[d].total()) << "device " << d;
  }
}

// Where the profiler could not hold the largest unit at the full step on the
// first device, "auto" plans with the estimates and says why, allocating nothing.
TEST_F(ProfilerTest, AutoKeepsTheEstimatesWhenTheProfileCannotFit) {
  ResolvedConfig c = config({"model.preset=1b", "train.frames=2000", "train.batch_size=1", "train.image_height=518",
                             "train.image_width=518"});
  PlanReport p = plan(c, {true});
  EXPECT_THAT(p.costs, HasSubstr(std::string(kAnalyticCosts) + "; not measured: profiling "));
  EXPECT_THAT(p.costs, HasSubstr(" at the full step needs about "));
  EXPECT_EQ(cached_files(), 0u);
}

// Under data parallelism rank 0 measures and every rank plans with its
// profile: rank 1, with a cache of its own, measures nothing and gets the
// same plan to the byte and the second.
TEST_F(ProfilerTest, EveryRankPlansWithRankZerosProfile) {
  constexpr int kRanks = 2;
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<PlanReport> plans(kRanks);
  std::vector<std::string> errors(kRanks);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < kRanks; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        distributed::World world;
        world.rank = rank;
        world.size = world.local_size = kRanks;
        distributed::Settings settings;
        settings.timeout_s = 60;
        distributed::DataParallel dp(world, settings, store);
        ResolvedConfig c = config({"placement.plugin=pipeline", "devices.count=2", "placement.balance=time",
                                   "placement.micro_batches=2", "costs.cache=" + (dir.path() / ("cache" + std::to_string(rank))).string()});
        plans[rank] = plan(c, {true, &dp});
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) ASSERT_EQ(e, "");
  EXPECT_EQ(cached_files("cache0"), 2u);  // the step's profile and the micro-batch's
  EXPECT_EQ(cached_files("cache1"), 0u);
  auto without_costs = [](const PlanReport& p) {
    auto j = nlohmann::json::parse(plan_json(p));
    j.erase("costs");  // names each rank's own cache
    return j;
  };
  EXPECT_EQ(without_costs(plans[1]), without_costs(plans[0]));
  for (std::size_t i = 0; i < plans[0].graph.units.size(); ++i) {
    EXPECT_EQ(plans[1].graph.units[i].cost.forward_seconds, plans[0].graph.units[i].cost.forward_seconds);
  }
}

TEST_F(ProfilerTest, CalibrationCarriesTheMeasurementToOtherShapes) {
  ResolvedConfig small = config({});
  Profile p = profile_experiment(request(small));
  ResolvedConfig larger = config({"train.frames=4", "train.batch_size=3"});
  Profile truth = profile_experiment(request(larger));
  ModelGraph analytic = plan(larger).graph;  // [costs] source = "analytic"
  ModelGraph fitted = calibrated(analytic, calibrate(p), p.device, p.memory);
  auto kept = [&](const ModelGraph& g) {
    double total = 0;
    for (const Unit& u : g.units) total += double(unit_activations(u, p.memory));
    return total;
  };
  double measured = 0;
  for (const UnitProfile& u : truth.units) measured += double(u.kept_bytes);
  const double analytic_error = std::abs(kept(analytic) / measured - 1.0);
  const double calibrated_error = std::abs(kept(fitted) / measured - 1.0);
  EXPECT_LT(calibrated_error, analytic_error);
  EXPECT_LT(calibrated_error, 0.05);
  for (const Unit& u : fitted.units) EXPECT_GT(u.cost.forward_seconds, 0) << u.name;  // same kind of device
}

TEST_F(ProfilerTest, ProfilesRoundTripThroughJsonAndBadFilesSayWhatToDo) {
  ResolvedConfig c = config({});
  Profile p = profile_experiment(request(c));
  write_profile(p, dir.path() / "p.json");
  Profile back = read_profile(dir.path() / "p.json");
  EXPECT_EQ(back.key, p.key);
  ASSERT_EQ(back.units.size(), p.units.size());
  EXPECT_EQ(back.units[2].kept_bytes, p.units[2].kept_bytes);
  EXPECT_EQ(back.units[2].analytic.activation_bytes, p.units[2].analytic.activation_bytes);
  auto bad = dir.write("bad.json", "{\"format\": \"something else\"}");
  try {
    read_profile(bad);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a vggt-lab profile"));
    EXPECT_THAT(e.what(), HasSubstr("vggt-lab profile EXPERIMENT.toml --out"));
  }
  try {
    plan(config({"costs.source=calibrated"}));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("calibration = \"FILE.json\""));
  }
  try {
    plan(config({"costs.source=calibrated", "costs.calibration=" + (dir.path() / "missing.json").string()}));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("[costs] calibration = \"" + (dir.path() / "missing.json").string() + "\""));
    EXPECT_THAT(e.what(), HasSubstr("cannot read the profile; check the path"));
  }
  ResolvedConfig calibrated_config =
      config({"costs.source=calibrated", "costs.calibration=" + (dir.path() / "p.json").string()});
  EXPECT_TRUE(plan(calibrated_config).fits());
}

}  // namespace
}  // namespace vggt_lab::profile
