// GPU tests: they run where LibTorch sees a CUDA device (scripts/gpu-check.sh)
// and are skipped elsewhere. Tolerances: fp32 GPU against CPU 1e-3 relative
// (different kernels and summation orders, TF32 off); bf16 autocast against
// fp32 5e-2 relative (8-bit mantissa over a few dozen layers); placements on
// one GPU against the single-device run 1e-4 relative (fp32, atomics in
// backward reorder sums); memory predictions 10 %, as on the CPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "experiment/experiment.hpp"
#include "profile/costs.hpp"
#include "runtime/executor.hpp"
#include "runtime/memory_meter.hpp"
#include "support/support.hpp"
#include "vggt_lab/compat.hpp"
#include "vggt_lab/placement.hpp"

namespace vggt_lab {
namespace {

#define REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: runs under scripts/gpu-check.sh"

const torch::Device kGpu("cuda:0");

void no_tf32() {
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

std::shared_ptr<ModelInstance> tiny(int seed = 0) {
  auto model = testing::create_plugin<Model>("model", {"model.plugin=vggt", "model.preset=tiny"});
  testing::seed(testing::Stream::weights, seed);
  return model.object->build();
}

TensorMap inputs(torch::Device device) {
  testing::seed(testing::Stream::inputs);
  return {{"images", torch::rand({2, 3, 3, 56, 70}).to(device)},
          {"query", (torch::rand({2, 3, 2}) * torch::tensor({69.0f, 55.0f})).to(device)}};
}

/// max |a - b| / max |b| over a prediction.
double relative(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.detach().to(torch::kCPU, torch::kFloat), y = b.detach().to(torch::kCPU, torch::kFloat);
  return (x - y).abs().max().item<double>() / std::max(1e-12, y.abs().max().item<double>());
}

TEST(Gpu, ModelMatchesTheCpuInFp32) {
  REQUIRE_CUDA();
  no_tf32();
  auto cpu = tiny(), gpu = tiny();
  gpu->module().to(kGpu);
  TensorMap on_cpu = cpu->forward(inputs(torch::kCPU)), on_gpu = gpu->forward(inputs(kGpu));
  ASSERT_FALSE(on_cpu.empty());
  for (const auto& [name, tensor] : on_cpu) {
    ASSERT_TRUE(on_gpu.count(name)) << name;
    EXPECT_TRUE(on_gpu.at(name).is_cuda()) << name;
    EXPECT_LT(relative(on_gpu.at(name), tensor), 1e-3) << name;
  }
}

TEST(Gpu, Bf16AutocastStaysCloseToFp32) {
  REQUIRE_CUDA();
  no_tf32();
  auto model = tiny();
  model->module().to(kGpu);
  TensorMap full = model->forward(inputs(kGpu)), half;
  {
    compat::AutocastOn autocast(c10::DeviceType::CUDA, torch::kBFloat16);
    half = model->forward(inputs(kGpu));
  }
  for (const char* name : {"depth", "world_points", "pose_enc"}) {
    ASSERT_TRUE(half.count(name)) << name;
    EXPECT_LT(relative(half.at(name), full.at(name)), 5e-2) << name;
  }
}

// A fused kernel never holds the 16 x 8192 x 8192 probabilities (2 GiB in
// bf16); the math path would.
TEST(Gpu, AttentionRunsAFusedKernel) {
  REQUIRE_CUDA();
  auto q = torch::randn({1, 16, 8192, 64}, torch::TensorOptions().device(kGpu).dtype(torch::kBFloat16));
  auto k = torch::randn_like(q), v = torch::randn_like(q);
  compat::cuda_synchronize(0);
  const std::int64_t before = compat::cuda_allocated(0);
  compat::cuda_reset_peak(0);
  auto o = at::scaled_dot_product_attention(q, k, v);
  compat::cuda_synchronize(0);
  EXPECT_LT(compat::cuda_peak_allocated(0) - before, std::int64_t{256} << 20);
  EXPECT_EQ(o.sizes(), q.sizes());
}

struct GpuRun {
  std::map<std::string, torch::Tensor> grads;
  runtime::StepResult result;
};

GpuRun run_on_gpu(const std::string& placement, int devices) {
  auto model = testing::create_plugin<Model>("model", {"model.plugin=vggt", "model.preset=tiny"});
  testing::seed(testing::Stream::weights);
  auto instance = model.object->build();
  InputShape shape{2, 3, 56, 70, 3};
  ModelGraph graph = model.object->graph(shape);
  auto [topology, plan] = testing::place_on(graph, devices, {"placement.plugin=" + placement}, "cuda:0");
  runtime::Executor executor(instance, graph, plan, topology, std::make_shared<runtime::InProcessTransport>(topology));
  auto loss = [](const TensorMap& predictions, const TensorMap&, FrameGroup*) {
    torch::Tensor total = torch::zeros({}, torch::TensorOptions().device(kGpu));
    for (const auto& [name, tensor] : predictions) total = total + tensor.to(torch::kFloat).square().mean();
    return TensorMap{{"loss", total}};
  };
  GpuRun out;
  out.result = executor.step(inputs(torch::kCPU), loss);
  for (auto& item : instance->module().named_parameters()) {
    if (item.value().grad().defined()) out.grads[item.key()] = item.value().grad().to(torch::kCPU);
  }
  return out;
}

TEST(Gpu, PlacementsOnOneGpuMatchTheSingleDeviceRun) {
  REQUIRE_CUDA();
  no_tf32();
  GpuRun single = run_on_gpu("single", 1);
  for (const auto& [strategy, devices] : std::vector<std::pair<std::string, int>>{{"balanced-memory", 4}, {"pipeline", 3}}) {
    GpuRun other = run_on_gpu(strategy, devices);
    const double loss = single.result.losses.at("loss");
    EXPECT_NEAR(other.result.losses.at("loss"), loss, 1e-4 * std::abs(loss)) << strategy;
    ASSERT_EQ(other.grads.size(), single.grads.size()) << strategy;
    for (const auto& [name, grad] : single.grads) EXPECT_LT(relative(other.grads.at(name), grad), 1e-4) << strategy << " " << name;
  }
}

/// The plan of a tiny-model experiment on GPU 0 with `settings`, from costs
/// the profiler measured there, and each logical device's measured peak.
struct GpuPlan {
  PlanReport plan;
  std::vector<std::int64_t> measured;
};

GpuPlan measured_plan(const std::vector<std::string>& settings) {
  testing::TempDir dir;
  RawConfig raw;
  raw.file = dir.path() / "gpu.toml";
  std::vector<std::string> all{"model.plugin=vggt", "model.preset=tiny", "model.enable_track=false",
                               "data.plugin=synthetic-scenes", "devices.physical=cuda", "train.batch_size=4",
                               "train.frames=4", "train.image_height=112", "train.image_width=112",
                               "costs.source=measured", "costs.cache=" + (dir.path() / "cache").string()};
  all.insert(all.end(), settings.begin(), settings.end());
  for (const std::string& o : all) apply_override(raw, o);
  ResolvedConfig config = resolve_config(raw, testing::builtin_plugins().registry());
  GpuPlan out;
  out.plan = plan_from_config(config, testing::builtin_plugins().registry(), testing::builtin_plugins().context(dir.path()));
  out.measured = testing::training_peaks(config, out.plan);
  return out;
}

double expected_peak(const DeviceMemory& predicted) { return double(predicted.total() - predicted.optimizer); }

// The runtime's CUDA peak against the plan made from costs the profiler
// measured on the same GPU: within 10 %.
TEST(Gpu, MeasuredCostsPredictTheCachingAllocatorsPeak) {
  REQUIRE_CUDA();
  GpuPlan run = measured_plan({"placement.plugin=single"});
  ASSERT_EQ(run.plan.topology.devices[0].physical, "cuda:0");
  EXPECT_NEAR(double(run.measured[0]) / expected_peak(run.plan.predicted[0]), 1.0, 0.10);
}

// Blocks of three logical devices on one GPU, one of them made by autograd's
// GPU thread for a backward a worker thread ran, each counted on its own
// device; together they are what the caching allocator reports.
TEST(Gpu, MemoryMeterCountsEachLogicalDeviceOnOneGpu) {
  REQUIRE_CUDA();
  runtime::install_memory_meter(kGpu);
  ASSERT_TRUE(runtime::cuda_counted_per_logical_device()) << "LibTorch does not report the caching allocator's blocks";
  const std::int64_t block = std::int64_t{4} << 20;  // a 1M-float tensor
  const auto on_gpu = torch::TensorOptions().device(kGpu);
  torch::Tensor w = torch::randn({1 << 20}, on_gpu).requires_grad_(true);  // no logical device
  compat::cuda_synchronize(0);
  const std::int64_t gpu_before = compat::cuda_allocated(0);
  std::vector<std::int64_t> before;
  for (int d = 0; d < 3; ++d) before.push_back(runtime::memory_count(kGpu, d).current);
  std::vector<torch::Tensor> kept;
  for (int d = 0; d < 3; ++d) {
    runtime::ScopedDevice on(d);
    kept.push_back(torch::empty({(d + 1) << 20}, on_gpu));
  }
  std::thread([&w] {
    runtime::ScopedDevice on(2);
    (w * w).sum().backward();  // w.grad: one block, made on autograd's thread
  }).join();
  compat::cuda_synchronize(0);
  std::int64_t counted = 0;
  for (int d = 0; d < 3; ++d) {
    const std::int64_t grew = runtime::memory_count(kGpu, d).current - before[d];
    EXPECT_NEAR(double(grew), double((d + 1 + (d == 2)) * block), 64 << 10) << "logical device " << d;
    counted += grew;
  }
  EXPECT_NEAR(double(compat::cuda_allocated(0) - gpu_before), double(counted), 64 << 10);
}

// balanced-memory with 4 logical devices sharing the GPU: each one's peak, as
// the meter counts it, against the plan's prediction for it, at a shape where
// each holds hundreds of MiB. The 64 MiB above 10 % is for cuBLAS workspaces
// (up to 32 MiB each), which LibTorch keeps per thread (each worker's, and
// autograd's) and the meter gives to the logical device that first needed one.
TEST(Gpu, BalancedMemoryOnOneGpuPredictsEachLogicalDevice) {
  REQUIRE_CUDA();
  GpuPlan run = measured_plan({"placement.plugin=balanced-memory", "devices.count=4", "train.frames=8",
                               "train.image_height=224", "train.image_width=224"});
  ASSERT_EQ(run.measured.size(), 4u);
  for (int d = 0; d < 4; ++d) {
    ASSERT_EQ(run.plan.topology.devices[d].physical, "cuda:0");
    const double expected = expected_peak(run.plan.predicted[d]);
    EXPECT_NEAR(double(run.measured[d]), expected, 0.10 * expected + double(64 << 20)) << "logical device " << d;
  }
}

}  // namespace
}  // namespace vggt_lab
