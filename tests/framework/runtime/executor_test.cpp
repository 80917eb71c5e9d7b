// Every placement strategy, run by the runtime on logical CPU devices, gives
// the loss and every parameter's gradient of the single-device run (the
// tracker included: frame-parallel gathers its inputs onto device 0).
// Metric: max |g - g_single| / max |g_single| per parameter; tolerance 1e-5
// (fp32; micro-batching changes summation order only).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/config.hpp"
#include "host/plugin_host.hpp"
#include "runtime/executor.hpp"
#include "support/support.hpp"
#include "vggt_lab/placement.hpp"
#include "vggt_lab/state_dict.hpp"

namespace vggt_lab::runtime {
namespace {

constexpr double kTolerance = 1e-5;

struct Strategy {
  std::string name;
  std::vector<std::string> overrides;
  int devices;
};

class ExecutorTest : public ::testing::TestWithParam<Strategy> {
 protected:
  static TensorMap batch() {
    testing::seed(testing::Stream::inputs);
    TensorMap b{{"images", torch::rand({4, 2, 3, 42, 56})},
                {"query", torch::rand({4, 3, 2}) * torch::tensor({55.0f, 41.0f})}};
    return b;
  }

  /// sum(prediction * projection) / scenes, so micro-batches weight as
  /// scenes: a sum, so a frame group's parts add up to it as they are.
  static LossFn projection_loss() {
    return [](const TensorMap& predictions, const TensorMap& batch, FrameGroup*) {
      torch::Tensor total = torch::zeros({}, batch.at("images").options());
      for (const auto& [name, tensor] : predictions) {
        auto projection = batch.find("proj." + name);
        if (projection != batch.end()) total = total + (tensor * projection->second).sum();
      }
      return TensorMap{{"loss", total / double(batch.at("images").size(0))}};
    };
  }

  static TensorMap with_projections(const TensorMap& in, const TensorMap& predictions) {
    TensorMap out = in;
    testing::seed(testing::Stream::projection);
    for (const auto& [name, tensor] : predictions) out["proj." + name] = torch::randn_like(tensor);
    return out;
  }

  struct Run {
    StepResult result;
    std::map<std::string, torch::Tensor> grads;
  };

  static Run run(const std::string& placement, const std::vector<std::string>& overrides, int devices) {
    auto model = testing::create_plugin<Model>("model", {"model.plugin=vggt", "model.preset=tiny"});
    testing::seed(testing::Stream::weights);
    auto instance = model.object->build();
    InputShape shape{4, 2, 42, 56, 3};
    ModelGraph graph = model.object->graph(shape);
    std::vector<std::string> settings{"placement.plugin=" + placement};
    settings.insert(settings.end(), overrides.begin(), overrides.end());
    auto [topology, plan] = testing::place_on(graph, devices, settings);
    RuntimeOptions options;
    options.replica = [&] { return model.object->build(); };
    Executor executor(instance, graph, plan, topology, std::make_shared<InProcessTransport>(topology), options);
    TensorMap in = batch();
    auto predictions = executor.predict(in).predictions;
    Run out;
    out.result = executor.step(with_projections(in, predictions), projection_loss());
    for (auto& item : instance->module().named_parameters()) {
      if (item.value().grad().defined()) out.grads[item.key()] = item.value().grad().to(torch::kCPU);
    }
    return out;
  }

};


TEST_P(ExecutorTest, LossAndEveryGradientEqualTheSingleDeviceRun) {
  const Strategy& s = GetParam();
  static Run reference = run("single", {}, 1);
  Run run = this->run(s.name, s.overrides, s.devices);
  double expected = reference.result.losses.at("loss");
  EXPECT_NEAR(run.result.losses.at("loss"), expected, std::abs(expected) * kTolerance);
  ASSERT_EQ(run.grads.size(), reference.grads.size());
  for (const auto& [name, g] : reference.grads) {
    double scale = std::max(g.abs().max().item<double>(), 1e-12);
    EXPECT_LE((run.grads.at(name) - g).abs().max().item<double>() / scale, kTolerance) << name;
  }
  int used = 0;
  for (const auto& d : run.result.devices) used += d.busy_seconds > 0;
  EXPECT_EQ(used, s.devices);
}

INSTANTIATE_TEST_SUITE_P(
    Strategies, ExecutorTest,
    ::testing::Values(Strategy{"single", {}, 1},
                      Strategy{"per-head", {"placement.depth_head=1", "placement.point_head=2",
                                            "placement.camera_head=1", "placement.track_head=2"}, 3},
                      Strategy{"balanced-memory", {}, 4},
                      Strategy{"pipeline", {"placement.micro_batches=2", "placement.schedule=gpipe"}, 2},
                      Strategy{"pipeline", {"placement.micro_batches=4", "placement.schedule=1f1b"}, 3},
                      Strategy{"frame-parallel", {}, 2}),
    [](const auto& info) {
      std::string name = info.param.name + "_" + std::to_string(info.param.devices);
      for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name + "_" + std::to_string(info.index);
    });

// The whole units' loss fails on a frame group's first device while the
// others wait for their gradients: the step reports it instead of hanging.
TEST(FrameGroup, AFailingDeviceReleasesTheOthers) {
  auto model = testing::create_plugin<Model>("model", {"model.plugin=vggt", "model.preset=tiny"});
  testing::seed(testing::Stream::weights);
  auto instance = model.object->build();
  ModelGraph graph = model.object->graph(InputShape{2, 4, 42, 56, 0});
  auto [topology, plan] = testing::place_on(graph, 3, {"placement.plugin=frame-parallel"});
  RuntimeOptions options;
  options.replica = [&] { return model.object->build(); };
  Executor executor(instance, graph, plan, topology, std::make_shared<InProcessTransport>(topology), options);
  const LossFn failing = [](const TensorMap& predictions, const TensorMap&, FrameGroup* frames) {
    if (!frames) throw Error("the loss failed");
    return TensorMap{{"loss", predictions.at("depth").sum()}};
  };
  EXPECT_THAT([&] { executor.step({{"images", torch::rand({2, 4, 3, 42, 56})}}, failing); },
              ::testing::ThrowsMessage<Error>(::testing::AllOf(::testing::HasSubstr("logical device 0"),
                                                                ::testing::HasSubstr("the loss failed"))));
}

// A whole unit of a frame-sharded stage runs on the group's first device
// only: what it computes cannot feed a frame-wise unit, nor another stage,
// which receives a sharded stage's tensors by frames. Refused, naming both.
TEST(FrameGroup, AWholeUnitsOutputStaysInItsStageForWholeUnits) {
  ModelGraph graph;
  graph.units = {{"a", {}, FrameSplit::local}, {"w", {}, FrameSplit::whole}, {"b", {}, FrameSplit::local}};
  graph.edges = {{"x", "a", "w", 8}, {"t", "w", "b", 8}};
  const Topology topology{{{0, "cpu", 0}, {1, "cpu", 0}, {2, "cpu", 0}}};
  Plan same{"test", {{0, {"a", "w", "b"}, {1}}}, 1, "sequential"};
  EXPECT_THAT([&] { check_runnable(graph, same, topology); },
              ::testing::ThrowsMessage<InputError>(::testing::HasSubstr("unit 'b' works frame by frame on 't'")));
  Plan across{"test", {{0, {"a", "w"}, {1}}, {2, {"b"}, {}}}, 1, "sequential"};
  EXPECT_THAT([&] { check_runnable(graph, across, topology); },
              ::testing::ThrowsMessage<InputError>(::testing::HasSubstr(
                  "unit 'w' computes 't' from all frames in frame-sharded stage 0 of the test plan, and stage 1")));
  across.stages[0].frame_group.clear();  // unsharded: it sends all frames
  EXPECT_NO_THROW(check_runnable(graph, across, topology));
}

// Two devices of a frame group on one GPU would block each other in its one
// backward thread: refused, naming both and the GPU (no GPU needed to check).
TEST(FrameGroup, TwoDevicesOnOneGpuAreRefused) {
  auto model = testing::create_plugin<Model>("model", {"model.plugin=vggt", "model.preset=tiny"});
  const ModelGraph graph = model.object->graph(InputShape{1, 4, 42, 56, 0});
  Topology topology{{{0, "cuda:0", 0}, {1, "cuda:1", 0}, {2, "cuda:0", 0}}};
  Plan plan{"frame-parallel", {whole_model(graph, 0)}, 1, "sequential"};
  plan.stages[0].frame_group = {1, 2};
  EXPECT_THAT([&] { check_runnable(graph, plan, topology); },
              ::testing::ThrowsMessage<InputError>(::testing::HasSubstr("logical devices 0 and 2, both on cuda:0")));
  topology.devices[2].physical = "cuda:2";
  EXPECT_NO_THROW(check_runnable(graph, plan, topology));
}

TEST(SplitBatch, NeverMakesAnEmptyMicroBatch) {
  TensorMap batch{{"images", torch::zeros({3, 1, 3, 14, 14})}};
  EXPECT_EQ(split_batch(batch, 8).size(), 3u);  // upstream crashed here (vggt#340)
  EXPECT_EQ(split_batch(batch, 2).size(), 2u);
  EXPECT_EQ(split_batch(batch, 2)[1].at("images").size(0), 1);
}

}  // namespace
}  // namespace vggt_lab::runtime
