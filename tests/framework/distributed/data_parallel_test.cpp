// Data parallelism through c10d (Gloo): ranks with batch b each give the
// gradients of one process with batch ranks*b, also when each rank's replica is
// placed over two logical devices (frame-parallel: its frames sharded over
// them). Metric: max |g - g_single| / max |g_single| per parameter;
// tolerance 1e-5 (fp32; only the summation order differs).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <csignal>
#include <mutex>
#include <sstream>
#include <thread>

#include "distributed/data_parallel.hpp"
#include "ranks.hpp"
#include "host/child.hpp"
#include "host/config.hpp"
#include "host/plugin_host.hpp"
#include "runtime/executor.hpp"
#include "support/support.hpp"
#include "vggt_lab/placement.hpp"

namespace vggt_lab::distributed {
namespace {

constexpr double kTolerance = 1e-5;
constexpr int kScenes = 4;

class DataParallelTest : public ::testing::TestWithParam<std::pair<std::string, int>> {
 protected:
  static TensorMap batch() {
    testing::seed(testing::Stream::inputs);
    return {{"images", torch::rand({kScenes, 2, 3, 42, 56})}, {"weight", torch::randn({kScenes, 2, 1, 42, 56})}};
  }

  /// Mean over scenes of sum(depth * weight): a batch mean, as the VGGT losses.
  /// Called on each head's device with that device's predictions.
  static TensorMap loss(const TensorMap& predictions, const TensorMap& batch, FrameGroup*) {
    auto depth = predictions.find("depth");
    if (depth == predictions.end()) return {{"loss", torch::zeros({})}};
    torch::Tensor weight = batch.at("weight").to(depth->second.device()).permute({0, 1, 3, 4, 2});
    return {{"loss", (depth->second * weight).sum() / double(batch.at("images").size(0))}};
  }

  /// Gradients of `scenes` [first, first + count) on one replica placed on `devices`.
  static std::vector<NamedParameter> replica(int seed, int first, int count, const std::string& placement,
                                             int devices, std::shared_ptr<ModelInstance>& keep, DataParallel* dp) {
    auto model = testing::create_plugin<Model>("model", {"model.plugin=vggt", "model.preset=tiny", "model.enable_track=false"});
    TensorMap all;
    {
      static std::mutex rng;  // the global generator: ranks are threads here
      std::lock_guard<std::mutex> lock(rng);
      testing::seed(testing::Stream::weights, seed);
      keep = model.object->build();
      all = batch();
    }
    if (dp) dp->broadcast(keep->module());
    InputShape shape{count, 2, 42, 56, 3};
    ModelGraph graph = model.object->graph(shape);
    auto [topology, plan] = testing::place_on(graph, devices, {"placement.plugin=" + placement});
    runtime::RuntimeOptions options;
    options.replica = [&] { return model.object->build(); };
    runtime::Executor executor(keep, graph, plan, topology, std::make_shared<runtime::InProcessTransport>(topology),
                               options);
    TensorMap mine;
    for (const auto& [name, tensor] : all) mine[name] = tensor.narrow(0, first, count);
    executor.step(mine, loss);
    std::vector<NamedParameter> params;
    for (auto& item : keep->module().named_parameters()) params.push_back({item.key(), item.value()});
    return params;
  }

};


TEST_P(DataParallelTest, RanksWithBatchBEqualOneProcessWithBatchRanksTimesB) {
  const auto& [placement, devices] = GetParam();
  std::shared_ptr<ModelInstance> reference_model;
  auto reference = replica(0, 0, kScenes, "single", 1, reference_model, nullptr);

  constexpr int kRanks = 2;
  Settings settings;
  settings.bucket_cap_mb = 0.25;  // several buckets
  settings.timeout_s = 60;
  std::vector<std::map<std::string, torch::Tensor>> grads(kRanks);
  std::vector<int> buckets(kRanks);
  const auto errors = on_ranks(kRanks, settings, [&](DataParallel& dp, int rank) {
    std::shared_ptr<ModelInstance> keep;
    // Rank 1 starts from other weights: the broadcast must replace them.
    auto params =
        replica(rank == 0 ? 0 : 99, rank * kScenes / kRanks, kScenes / kRanks, placement, devices, keep, &dp);
    buckets[rank] = dp.average_gradients(params);
    for (auto& p : params) grads[rank][p.name] = p.tensor.grad().clone();
  });
  for (const auto& e : errors) ASSERT_EQ(e, "");

  EXPECT_GT(buckets[0], 1);
  for (int rank = 0; rank < kRanks; ++rank) {
    for (const auto& p : reference) {
      if (!p.tensor.grad().defined()) {  // unused by this loss: zero-filled on every rank
        EXPECT_EQ(grads[rank].at(p.name).abs().max().item<double>(), 0.0) << p.name;
        continue;
      }
      double scale = std::max(p.tensor.grad().abs().max().item<double>(), 1e-12);
      EXPECT_LE((grads[rank].at(p.name) - p.tensor.grad()).abs().max().item<double>() / scale, kTolerance)
          << "rank " << rank << " " << p.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Placements, DataParallelTest,
                         ::testing::Values(std::make_pair(std::string("single"), 1),
                                           std::make_pair(std::string("balanced-memory"), 2),
                                           std::make_pair(std::string("frame-parallel"), 2)),
                         [](const auto& info) {
                           std::string name = info.param.first + "_" + std::to_string(info.param.second);
                           for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

TEST(DataParallel, AParameterWithoutGradientIsAnErrorNamingItUnlessUnusedAreAllowed) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  Settings settings;
  settings.find_unused_parameters = false;
  World world;  // one rank
  DataParallel dp(world, settings, store);
  torch::Tensor used = torch::ones({3}, torch::requires_grad());
  (used * 2).sum().backward();
  std::vector<NamedParameter> params{{"used", used}, {"head.unused", torch::ones({2}, torch::requires_grad())}};
  try {
    dp.average_gradients(params);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("'head.unused'"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("find_unused_parameters"));
  }
}

// Rank 0's parameters and buffers (of two types, in buckets smaller than
// one tensor) replace rank 1's; a parameter that then differs is named by
// the replica check on the rank where it differs.
TEST(DataParallel, BroadcastsInBucketsAndNamesADivergedParameter) {
  Settings settings;
  settings.timeout_s = 60;
  settings.bucket_cap_mb = 1e-5;  // 10 bytes: a bucket a tensor
  std::vector<std::map<std::string, torch::Tensor>> seen(2);
  const auto errors = on_ranks(2, settings, [&](DataParallel& dp, int rank) {
    torch::nn::Module module;
    const double value = rank == 0 ? 1.0 : 0.0;
    auto a = module.register_parameter("a", torch::full({3}, value));
    auto b = module.register_parameter("b", torch::full({2, 2}, value));
    module.register_buffer("f", torch::full({4}, value));
    module.register_buffer("i", torch::full({2}, rank == 0 ? 7 : 0, torch::kLong));
    dp.broadcast(module);
    for (const auto& item : module.named_parameters()) seen[rank][item.key()] = item.value().detach().clone();
    for (const auto& item : module.named_buffers()) seen[rank][item.key()] = item.value().clone();
    if (rank == 1) b.data().add_(1);
    std::vector<NamedParameter> params{{"a", a}, {"b", b}};
    dp.check_replicas(params);
  });
  EXPECT_EQ(errors[0], "");
  EXPECT_THAT(errors[1], ::testing::HasSubstr("parameter 'b' differs from rank 0's"));
  ASSERT_EQ(seen[1].size(), 4u);
  for (const auto& [name, tensor] : seen[0]) EXPECT_TRUE(tensor.equal(seen[1].at(name))) << name;
  EXPECT_EQ(seen[1].at("i")[0].item<std::int64_t>(), 7);
}

/// Sets environment variables for a scope, then unsets them.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::map<std::string, std::string> values) : values_(std::move(values)) {
    for (const auto& [name, value] : values_) setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : values_) unsetenv(name.c_str());
  }

 private:
  std::map<std::string, std::string> values_;
};

// The ranks as torchrun, mpirun (Open MPI, MPICH / Intel MPI) and srun describe them.
TEST(WorldFromEnv, ReadsTorchrunMpirunAndSrun) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string launcher;
    int rank, size, local_rank, local_size;
  };
  const std::vector<Case> cases = {
      {{{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "h0"}},
       "torchrun", 3, 4, 1, 2},
      {{{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
        {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}},
       "Open MPI", 1, 2, 1, 2},
      {{{"PMI_SIZE", "3"}, {"PMI_RANK", "2"}, {"MPI_LOCALRANKID", "2"}, {"MPI_LOCALNRANKS", "3"}}, "MPICH", 2, 3, 2, 3},
      {{{"SLURM_STEP_NUM_TASKS", "7"}, {"SLURM_PROCID", "6"}, {"SLURM_LOCALID", "0"}, {"SLURM_NODEID", "3"},
        {"SLURM_STEP_TASKS_PER_NODE", "2(x3),1"}, {"MASTER_ADDR", "node0"}},
       "SLURM", 6, 7, 0, 1},
      {{{"SLURM_STEP_NUM_TASKS", "7"}, {"SLURM_PROCID", "3"}, {"SLURM_LOCALID", "1"}, {"SLURM_NODEID", "1"},
        {"SLURM_STEP_TASKS_PER_NODE", "2(x3),1"}, {"MASTER_ADDR", "node0"}},
       "SLURM", 3, 7, 1, 2},
  };
  for (const Case& c : cases) {
    ScopedEnv env(c.env);
    const World w = world_from_env();
    EXPECT_EQ(w.launcher, c.launcher);
    EXPECT_EQ(std::vector<int>({w.rank, w.size, w.local_rank, w.local_size}),
              std::vector<int>({c.rank, c.size, c.local_rank, c.local_size}))
        << c.launcher;
  }
  {  // torchrun's variables win; a batch script's SLURM_NTASKS alone is no world
    ScopedEnv env({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"SLURM_STEP_NUM_TASKS", "8"}, {"SLURM_NTASKS", "8"}});
    EXPECT_EQ(world_from_env().size, 2);
  }
  {
    ScopedEnv env({{"SLURM_NTASKS", "8"}, {"SLURM_PROCID", "0"}});
    EXPECT_FALSE(world_from_env().multi());
  }
}

TEST(WorldFromEnv, RanksOnSeveralHostsNeedMasterAddr) {
  ScopedEnv env({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  try {
    world_from_env();
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("4 ranks from Open MPI, 2 on this host"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("need MASTER_ADDR"));
  }
}

TEST(WorldFromEnv, RejectsARankOutsideTheWorld) {
  {
    ScopedEnv env({{"WORLD_SIZE", "2"}, {"RANK", "2"}});
    EXPECT_THROW(world_from_env(), InputError);
  }
  EXPECT_FALSE(world_from_env().multi());
}

const std::string kSmallRun =
    std::string(" ") + SOURCE_ROOT + "/experiments/dp.toml --set train.steps=3 --set train.eval_scenes=0 "
    "--set train.batch_size=1 --set train.frames=2 --set train.min_frames=2 --set train.image_height=56 "
    "--set train.image_width=56 --set distributed.timeout_s=60";

TEST(Launch, ThreeRanksTrainWithIdenticalReplicasAndRankZeroWritesTheRun) {
  testing::TempDir dir;
  auto out = dir.path() / "run";
  auto result = testing::run_command("OMP_NUM_THREADS=1 " + testing::vggt_lab_exe() + " launch -n 3" + kSmallRun +
                                     " --out " + out.string());
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(testing::read_text(out / "run.log"), ::testing::HasSubstr("world size 3"));
  for (const char* log : {"run.log", "rank1.log", "rank2.log"}) {
    EXPECT_THAT(testing::read_text(out / log), ::testing::HasSubstr("replicas identical on all 3 ranks")) << log;
  }
  std::string metrics = testing::read_text(out / "metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 3);  // one writer
  EXPECT_THAT(metrics, ::testing::HasSubstr("\"ranks\":3"));
  // The checkpoint of three ranks continues in one process.
  auto resumed = testing::run_command(testing::vggt_lab_exe() + " -q run" + kSmallRun +
                                      " --set train.steps=4 --resume " + out.string());
  EXPECT_EQ(resumed.status, 0) << resumed.output;
  // and in two ranks again from the run folder alone, as `run --resume RUN` does.
  auto launched = testing::run_command("OMP_NUM_THREADS=1 " + testing::vggt_lab_exe() +
                                       " -q launch -n 2 --set train.steps=5 --resume " + out.string());
  ASSERT_EQ(launched.status, 0) << launched.output;
  metrics = testing::read_text(out / "metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 5);
  EXPECT_THAT(metrics, ::testing::HasSubstr("\"ranks\":2"));
}

/// metrics.jsonl of a run folder, a line each.
std::vector<nlohmann::json> metrics_of(const std::filesystem::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// All-reduces started during backward give the losses of reducing after it
// (tolerance 1e-6 relative; the sums are the same), with two micro-batches a
// step (a bucket starts only after both) and with frame-parallel replicas
// (the copies' gradients are added after backward).
TEST(Launch, AllReducesDuringBackwardTrainAsReducingAfterIt) {
  testing::TempDir dir;
  for (const std::string placement : {"balanced-memory", "frame-parallel"}) {
    std::map<bool, std::vector<nlohmann::json>> runs;
    for (bool overlap : {true, false}) {
      const auto out = dir.path() / (placement + (overlap ? "-overlap" : "-after"));
      auto result = testing::run_command(
          testing::vggt_lab_exe() + " -q launch -n 2" + kSmallRun + " --set train.steps=4 --set train.batch_size=2 " +
          "--set train.accum_steps=2 --set distributed.bucket_cap_mb=0.5 --set placement.plugin=" + placement +
          " --set distributed.overlap=" + (overlap ? "true" : "false") + " --out " + out.string());
      ASSERT_EQ(result.status, 0) << result.output;
      runs[overlap] = metrics_of(out);
      ASSERT_EQ(runs[overlap].size(), 4u);
      // The run's figures: steps 2-4 (the first counts accumulations); reduced
      // after backward, all of the all-reduce is waited for.
      std::ifstream summary_file(out / "summary.json");
      const auto reduced = nlohmann::json::parse(summary_file)["allreduce"];
      EXPECT_EQ(reduced["steps"], 3) << placement;
      EXPECT_EQ(reduced["ranks"], 2) << placement;
      EXPECT_GE(reduced["hidden"].get<double>(), 0.0);
      EXPECT_LE(reduced["hidden"].get<double>(), 1.0);
      if (!overlap) EXPECT_EQ(reduced["hidden"].get<double>(), 0.0) << placement;
      EXPECT_THAT(testing::read_text(out / "report.md"), ::testing::HasSubstr("gradient all-reduce over 2 ranks"));
    }
    for (std::size_t step = 0; step < 4; ++step) {
      const double with = runs[true][step]["loss"], without = runs[false][step]["loss"];
      EXPECT_NEAR(with, without, 1e-6 * std::abs(without)) << placement << " step " << step + 1;
      EXPECT_EQ(runs[false][step]["allreduce"]["during_backward"], 0) << placement;
      if (step > 0 && placement == "balanced-memory") {
        EXPECT_GT(runs[true][step]["allreduce"]["during_backward"], 0) << "step " << step + 1;
        EXPECT_FALSE(runs[true][step]["allreduce"]["recounted"].get<bool>()) << "step " << step + 1;
      }
    }
  }
}

// `launch` binds rank r to the r-th half of the CPUs (the rank logs them);
// --no-bind-cores leaves both on all of them.
TEST(Launch, BindsEachRankToItsShareOfTheCores) {
  testing::TempDir dir;
  auto cpus_logged = [](const std::filesystem::path& log) {
    const std::string text = testing::read_text(log);
    const auto at = text.find("CPUs ");
    return at == std::string::npos ? std::string("(none)") : text.substr(at + 5, text.find(')', at) - at - 5);
  };
  const int cpus = int(allowed_cpus().size());
  for (bool bind : {true, false}) {
    const auto out = dir.path() / (bind ? "bound" : "free");
    auto result = testing::run_command(testing::vggt_lab_exe() + " -q launch -n 2" + (bind ? "" : " --no-bind-cores") +
                                       kSmallRun + " --set train.steps=1 --out " + out.string());
    ASSERT_EQ(result.status, 0) << result.output;
    const std::string zero = cpus_logged(out / "run.log"), one = cpus_logged(out / "rank1.log");
    ASSERT_NE(zero, "(none)");
    if (bind && cpus >= 2) {
      EXPECT_NE(zero, one);
      EXPECT_EQ(std::count(zero.begin(), zero.end(), ',') + 1, cpus / 2) << zero;
    } else {
      EXPECT_EQ(zero, one);
      EXPECT_EQ(std::count(zero.begin(), zero.end(), ',') + 1, cpus) << zero;
    }
  }
}

TEST(Launch, AMissingRankFailsWithinTheTimeoutNamingIt) {
  testing::TempDir dir;
  auto result = testing::run_command("WORLD_SIZE=2 RANK=0 MASTER_PORT=29619 " + testing::vggt_lab_exe() + " run" +
                                     kSmallRun + " --set distributed.timeout_s=2 --out " + (dir.path() / "run").string());
  EXPECT_EQ(result.status, 1);
  EXPECT_THAT(result.output, ::testing::HasSubstr("rank 0 of 2: rendezvous failed"));
  EXPECT_THAT(result.output, ::testing::HasSubstr("timeout_s = 2 s"));
}

TEST(TwoHosts, RanksInTwoNetworkNamespacesTrainWithIdenticalReplicas) {
  if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
  testing::TempDir dir;
  auto out = dir.path() / "run";
  auto result = testing::run_command(std::string(SOURCE_ROOT) + "/scripts/two-hosts.sh " + testing::vggt_lab_exe() +
                                     " " + out.string() + kSmallRun);
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(testing::read_text(out / "run.log"), ::testing::HasSubstr("world size 2"));
  for (const char* log : {"run.log", "rank1.log"}) {
    EXPECT_THAT(testing::read_text(out / log), ::testing::HasSubstr("replicas identical on all 2 ranks")) << log;
  }
}

/// A listening socket on a free loopback port that never answers.
struct ForeignServer {
  ForeignServer() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(fd, 8);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~ForeignServer() { close(fd); }
  int fd = -1, port = 0;
};

// Ranks that mpirun started (Open MPI's variables, none of torchrun's) train as one world.
TEST(Launch, RanksStartedByMpirunTrainAsOneWorld) {
  testing::TempDir dir;
  int port = 0;
  {
    ForeignServer probe;  // a free port, closed again
    port = probe.port;
  }
  const auto out = dir.path() / "run";
  auto rank = [&](int r) {
    const std::string n = std::to_string(r);
    return "OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=" + n + " OMPI_COMM_WORLD_LOCAL_RANK=" + n +
           " OMPI_COMM_WORLD_LOCAL_SIZE=2 MASTER_PORT=" + std::to_string(port) + " OMP_NUM_THREADS=1 " +
           testing::vggt_lab_exe() + " -q run" + kSmallRun + " --set train.steps=2 --out " + out.string();
  };
  auto result = testing::run_command("(" + rank(0) + " & zero=$!; " + rank(1) + "; one=$?; wait $zero; exit $(($? | one)))");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_THAT(testing::read_text(out / "run.log"), ::testing::HasSubstr("world size 2"));
  EXPECT_THAT(testing::read_text(out / "rank1.log"), ::testing::HasSubstr("rank 1 of 2 from Open MPI"));
  EXPECT_THAT(testing::read_text(out / "rank1.log"), ::testing::HasSubstr("replicas identical on all 2 ranks"));
}

TEST(Launch, ARankWhoseMasterPortIsHeldByAForeignServerFailsWithinTheTimeout) {
  testing::TempDir dir;
  ForeignServer foreign;
  const auto start = std::chrono::steady_clock::now();
  auto result = testing::run_command("WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                                     std::to_string(foreign.port) + " " + testing::vggt_lab_exe() + " run" +
                                     kSmallRun + " --set distributed.timeout_s=3 --out " + (dir.path() / "run").string());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(result.status, 1) << result.output;
  EXPECT_THAT(result.output, ::testing::HasSubstr("is another program listening on that port?"));
  EXPECT_LT(seconds, 3.0 + 15.0);  // the timeout, plus starting the process and its plugins
}

TEST(Launch, AConfigurationErrorIsReportedOnceBeforeAnyRankStarts) {
  auto result = testing::run_command(testing::vggt_lab_exe() + " launch -n 2" + kSmallRun + " --set train.frames=0");
  EXPECT_EQ(result.status, 2) << result.output;
  const std::string message = "'frames' in [train] must be at least 1, got 0";
  const auto first = result.output.find(message);
  ASSERT_NE(first, std::string::npos) << result.output;
  EXPECT_EQ(result.output.find(message, first + 1), std::string::npos) << result.output;
  EXPECT_THAT(result.output, ::testing::Not(::testing::HasSubstr("rank 0 exited")));
}

// An --out that holds another run is refused by launch itself: the ranks
// started, rank 0 refused and the others failed in c10d waiting for it.
TEST(Launch, AnOutFolderHoldingARunIsRefusedBeforeAnyRankStarts) {
  testing::TempDir dir;
  dir.write("run/config.resolved.toml", "# another run\n");
  auto result = testing::run_command(testing::vggt_lab_exe() + " launch -n 2" + kSmallRun + " --out " +
                                     (dir.path() / "run").string());
  EXPECT_EQ(result.status, 2) << result.output;
  EXPECT_THAT(result.output, ::testing::HasSubstr("already holds a run"));
  EXPECT_THAT(result.output, ::testing::Not(::testing::HasSubstr("rank 1")));
}

TEST(Launch, ATakenPortIsNamedAsTaken) {
  ForeignServer foreign;
  testing::TempDir dir;
  auto result = testing::run_command(testing::vggt_lab_exe() + " launch -n 2 --port " + std::to_string(foreign.port) +
                                     kSmallRun + " --out " + (dir.path() / "run").string());
  EXPECT_EQ(result.status, 2) << result.output;
  EXPECT_THAT(result.output, ::testing::HasSubstr("the port is taken by another program"));
}

// SIGTERM to launch stops every rank after the same step, rank 0 saving it;
// launch reports an interruption, not a failure.
TEST(Launch, SigtermStopsEveryRankAfterOneStepWithACheckpoint) {
  testing::TempDir dir;
  const auto out = dir.path() / "run";
  std::vector<std::string> argv{testing::vggt_lab_exe(), "launch", "-n", "2"};
  std::istringstream small(kSmallRun);
  for (std::string word; small >> word;) argv.push_back(word);
  argv.insert(argv.end(), {"--set", "train.steps=1000", "--out", out.string()});
  const pid_t pid = start_child({argv, {}, dir.path() / "launch.out"});
  const bool started = testing::wait_for_lines(out / "metrics.jsonl", 2, 120);
  kill(pid, SIGTERM);
  const ChildExit exit = wait_child(pid, 120);
  const std::string output = testing::read_text(dir.path() / "launch.out");
  ASSERT_TRUE(started) << output;
  EXPECT_EQ(exit.status, 128 + SIGTERM) << output;
  EXPECT_THAT(output, ::testing::HasSubstr("interrupted by SIGTERM"));
  EXPECT_THAT(output, ::testing::Not(::testing::HasSubstr("exited with status")));
  const std::size_t steps = metrics_of(out).size();
  for (const char* log : {"run.log", "rank1.log"}) {
    EXPECT_THAT(testing::read_text(out / log),
                ::testing::HasSubstr("stopped by SIGTERM after step " + std::to_string(steps) + " of 1000"))
        << log;
  }
  char latest[32];
  std::snprintf(latest, sizeof latest, "step-%06zu\n", steps);
  EXPECT_EQ(testing::read_text(out / "checkpoints" / "latest"), latest);
}

}  // namespace
}  // namespace vggt_lab::distributed
