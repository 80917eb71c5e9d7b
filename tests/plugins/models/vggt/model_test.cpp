// The vggt plugin through the SDK's Model interface, as the host uses it:
// the unit graph against the monolithic model, costs of the 1B graph
// without allocation, activation checkpointing, weights in and out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/config.hpp"
#include "host/plugin_host.hpp"
#include "support/support.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/plan.hpp"
#include "vggt_lab/state_dict.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

class VggtModelTest : public ::testing::Test {
 protected:
  void SetUp() override { host_.load_path({default_plugin_dir(), "built-in", true}); }

  PluginObject<Model> model(const std::vector<std::string>& overrides) {
    RawConfig raw;
    raw.file = dir_.path() / "test.toml";
    apply_override(raw, "model.plugin=vggt");
    for (const auto& assignment : overrides) apply_override(raw, assignment);
    ResolvedConfig config = resolve_config(raw, host_.registry());
    return host_.registry().create<Model>("vggt", config.plugin_options("model"),
                                          host_.context(dir_.path()));
  }

  std::shared_ptr<ModelInstance> tiny(int seed = 0) {
    testing::seed(testing::Stream::weights, seed);
    return model({"model.preset=tiny"}).object->build();
  }

  static TensorMap inputs() {
    testing::seed(testing::Stream::inputs);
    return {{"images", torch::rand({2, 2, 3, 56, 70})},
            {"query", torch::rand({2, 3, 2}) * torch::tensor({69.0f, 55.0f})}};
  }

  /// A random projection of every prediction; like the training loss it
  /// reads every refinement iteration (pose_enc_list), without which the
  /// camera head's empty_pose_tokens get no gradient, upstream as here.
  static torch::Tensor loss(const TensorMap& predictions) {
    testing::seed(testing::Stream::projection);
    torch::Tensor total = torch::zeros({});
    for (const auto& [name, tensor] : predictions) total = total + (tensor * torch::randn_like(tensor)).sum();
    return total;
  }

  static TensorMap run_units(ModelInstance& instance, const ModelGraph& graph, const TensorMap& in,
                             const InputShape& shape) {
    TensorMap available = in, predictions;
    for (const Unit& unit : graph.units) {
      TensorMap unit_inputs;
      for (const Edge& edge : graph.edges) {
        if (edge.to == unit.name) unit_inputs[edge.tensor] = available.at(edge.tensor);
      }
      for (auto& [name, tensor] : instance.run_unit(unit.name, unit_inputs, shape)) {
        available[name] = tensor;
        predictions[name] = tensor;
      }
    }
    for (auto it = predictions.begin(); it != predictions.end();) {
      bool internal = it->first.rfind("tokens.", 0) == 0 || it->first.rfind("layer.", 0) == 0;
      it = internal ? predictions.erase(it) : std::next(it);
    }
    return predictions;
  }

  testing::TempDir dir_;
  PluginHost host_{nullptr};
};

TEST_F(VggtModelTest, RunningUnitsInGraphOrderEqualsTheMonolithicForwardAndBackward) {
  const std::vector<std::vector<std::string>> configs = {
      {"model.preset=tiny"},
      {"model.preset=tiny", "model.aa_block_size=2", "model.aa_order=[\"global\", \"frame\"]"}};
  for (const auto& config : configs) {
    SCOPED_TRACE(config.back());
    auto vggt = model(config);
    testing::seed(testing::Stream::weights);
    auto whole = vggt.object->build();
    testing::seed(testing::Stream::weights);
    auto parts = vggt.object->build();
    TensorMap in = inputs();
    InputShape shape{2, 2, 56, 70, 3};
    ModelGraph graph = vggt.object->graph(shape);
    TensorMap expected = whole->forward(in);
    TensorMap actual = run_units(*parts, graph, in, shape);
    ASSERT_EQ(actual.size(), expected.size());
    for (const auto& [name, tensor] : expected) {
      EXPECT_TRUE(torch::equal(actual.at(name), tensor)) << name;
    }
    loss(expected).backward();
    loss(actual).backward();
    auto grads = whole->module().named_parameters();
    for (const auto& item : parts->module().named_parameters()) {
      const auto& reference = grads[item.key()].grad();
      if (!reference.defined()) continue;
      EXPECT_TRUE(torch::allclose(item.value().grad(), reference, 1e-5, 1e-7)) << item.key();
    }
  }
}

TEST_F(VggtModelTest, GradientsReachEveryTrainableParameter) {
  auto instance = tiny();
  loss(instance->forward(inputs())).backward();
  for (const auto& item : instance->module().named_parameters()) {
    if (!item.value().requires_grad()) continue;
    ASSERT_TRUE(item.value().grad().defined()) << item.key() << " has no gradient";
    EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
  }
}

// Every parameter with a gradient in the plain run has the same gradient
// under each checkpointing choice (1e-5 relative to its largest element).
TEST_F(VggtModelTest, CheckpointingGivesTheSameGradients) {
  auto plain = tiny();
  plain->module().train();
  TensorMap in = inputs();
  loss(plain->forward(in)).backward();
  auto reference = plain->module().named_parameters();
  int with_gradients = 0;
  for (const auto& item : reference) with_gradients += item.value().grad().defined();
  Checkpointing trunk, global, chunked, whole;
  trunk.units = {"embed", "block.0", "block.1", "block.2", "block.3"};
  global = trunk;
  global.global_only = true;
  chunked.units = trunk.units;
  chunked.units.insert({"camera_head", "depth_head", "point_head", "track_head"});
  chunked.head_frames = 1;
  whole = chunked;
  whole.head_frames = 0;
  for (const Checkpointing& choice : {trunk, global, chunked, whole}) {
    auto checkpointed = tiny();
    checkpointed->set_checkpointing(choice);
    checkpointed->module().train();
    loss(checkpointed->forward(in)).backward();
    int compared = 0;
    for (const auto& item : checkpointed->module().named_parameters()) {
      const auto& expected = reference[item.key()].grad();
      if (!expected.defined()) continue;
      ASSERT_TRUE(item.value().grad().defined()) << item.key() << " lost its gradient";
      double scale = std::max(expected.abs().max().item<double>(), 1e-12);
      EXPECT_LE((item.value().grad() - expected).abs().max().item<double>() / scale, 1e-5) << item.key();
      ++compared;
    }
    EXPECT_EQ(compared, with_gradients);
  }
}

TEST_F(VggtModelTest, UnitsPartitionTheParametersAndBuffers) {
  auto instance = tiny();
  auto graph = model({"model.preset=tiny"}).object->graph({1, 2, 56, 56, 0});
  std::map<std::string, int> owners;
  for (const Unit& unit : graph.units) {
    for (const auto& name : instance->unit_tensors(unit.name)) ++owners[name];
  }
  for (const auto& [name, tensor] : state_dict(instance->module(), true)) {
    EXPECT_EQ(owners[name], 1) << name;
  }
}

TEST_F(VggtModelTest, OneBillionGraphIsPlannedWithoutAllocating) {
  auto vggt = model({"model.preset=1b"});
  InputShape shape{1, 24, 518, 518, 0};
  ModelGraph graph = vggt.object->graph(shape);
  ASSERT_EQ(graph.units.size(), 1u + 24u + 4u);
  int64_t param_bytes = 0;
  for (const Unit& unit : graph.units) param_bytes += unit.cost.param_bytes;
  EXPECT_EQ(param_bytes, int64_t{1256537516} * 4);
  Topology one{{{0, "cpu", 0}}};
  Plan all{"test", {{0, {}}}, 1, "sequential"};
  for (const Unit& unit : graph.units) all.stages[0].units.push_back(unit.name);
  EXPECT_TRUE(check_plan(graph, one, all).empty());
  // Global attention over 24 x 1374 tokens: the probabilities of one block
  // (16 heads, fp32) are 16 * 32976^2 * 4 bytes, which fused kernels avoid.
  const Unit& block = graph.units[graph.index_of("block.0")];
  EXPECT_GE(block.cost.attention_bytes, int64_t{16} * 32976 * 32976 * 4);
  EXPECT_EQ(block.cost.checkpoint_bytes, block.cost.activation_bytes);  // nothing checkpointed
  Checkpointing trunk;
  trunk.units = {"block.0", "point_head"};
  const ModelGraph checkpointed = vggt.object->graph(shape, trunk);
  const UnitCost& kept = checkpointed.units[checkpointed.index_of("block.0")].cost;
  EXPECT_LT(kept.checkpoint_bytes, kept.activation_bytes / 10);
  EXPECT_EQ(kept.checkpoint_attention_bytes, 0);
  EXPECT_GT(kept.recompute_flops, 0.99 * kept.forward_flops);
  Checkpointing global = trunk;
  global.global_only = true;  // the frame block keeps its activations, the global one its input
  const UnitCost& half = vggt.object->graph(shape, global).units[checkpointed.index_of("block.0")].cost;
  EXPECT_GT(half.checkpoint_bytes, 10 * kept.checkpoint_bytes);
  EXPECT_LT(half.checkpoint_bytes, kept.activation_bytes * 0.6);
  EXPECT_GT(half.recompute_flops, 0.5 * kept.recompute_flops);  // global attention costs more
  // A head checkpointed by chunks of 4 of 24 frames recomputes a sixth at a time.
  Checkpointing chunks = trunk;
  chunks.head_frames = 4;
  const UnitCost& whole = checkpointed.units[checkpointed.index_of("point_head")].cost;
  const UnitCost& chunked = vggt.object->graph(shape, chunks).units[checkpointed.index_of("point_head")].cost;
  EXPECT_NEAR(double(chunked.recompute_bytes), double(whole.recompute_bytes) / 6.0, whole.recompute_bytes * 1e-6);
  EXPECT_LT(chunked.checkpoint_bytes, whole.activation_bytes / 4);  // its loss's per-pixel terms stay
  // The camera head reads only the last layer; the DPT heads read four.
  int depth_inputs = 0;
  for (const Edge& edge : graph.edges) depth_inputs += edge.to == "depth_head";
  EXPECT_EQ(depth_inputs, 4);
  EXPECT_EQ(vggt.object->unit_of("aggregator.global_blocks.7.attn.qkv.weight"), "block.7");
  EXPECT_EQ(vggt.object->unit_of("aggregator.patch_embed.pos_embed"), "embed");
  EXPECT_EQ(vggt.object->unit_of("track_head.tracker.query_ref_token"), "track_head");
}

TEST_F(VggtModelTest, SavedWeightsLoadBackThroughTheModelOptionsWithEqualOutputs) {
  auto original = tiny(3);
  save_safetensors(dir_.path() / "model.safetensors", state_dict(original->module()));
  save_torch_state_dict(dir_.path() / "model.pt", state_dict(original->module()));
  TensorMap in = inputs();
  torch::NoGradGuard no_grad;
  TensorMap expected = original->forward(in);
  for (const char* file : {"model.safetensors", "model.pt"}) {
    testing::seed(testing::Stream::weights, 99);  // a different initialisation, overwritten by the file
    auto loaded = model({"model.preset=tiny", "model.weights=" + (dir_.path() / file).string()}).object->build();
    TensorMap actual = loaded->forward(in);
    for (const auto& [name, tensor] : expected) EXPECT_TRUE(torch::equal(actual.at(name), tensor)) << file << " " << name;
  }
}

TEST_F(VggtModelTest, StrictLoadingNamesEveryMismatchAndNonStrictSkipsThem) {
  auto small = tiny();
  NamedTensors tensors = state_dict(small->module());
  tensors.erase(tensors.begin());                                 // missing camera_token
  tensors.push_back({"aggregator.not_a_key", torch::zeros({1})});  // unexpected
  tensors[3].second = torch::zeros({7});                          // mis-shaped
  save_safetensors(dir_.path() / "bad.safetensors", tensors);
  try {
    model({"model.preset=tiny", "model.weights=" + (dir_.path() / "bad.safetensors").string()}).object->build();
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("1 missing (aggregator.camera_token)"));
    EXPECT_THAT(e.what(), HasSubstr("1 unexpected (aggregator.not_a_key)"));
    EXPECT_THAT(e.what(), HasSubstr("vs model"));
    EXPECT_THAT(e.what(), HasSubstr("set [model] strict = false"));
  }
  auto lenient = model({"model.preset=tiny", "model.weights=" + (dir_.path() / "bad.safetensors").string(), "model.strict=false"});
  auto instance = lenient.object->build();
  LoadReport report = load_state_dict(instance->module(), tensors, false, "bad.safetensors");
  EXPECT_EQ(report.loaded, tensors.size() - 2);
  EXPECT_THAT(report.summary(), HasSubstr("not loaded"));
}

}  // namespace
}  // namespace vggt_lab
