// adamw against LibTorch's torch::optim::AdamW (the same update as
// Python's), its schedule, and the gradient policies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "host/config.hpp"
#include "host/plugin_host.hpp"
#include "support/support.hpp"
#include "vggt_lab/optim.hpp"

namespace vggt_lab {
namespace {

using ::testing::HasSubstr;

class OptimTest : public ::testing::Test {
 protected:
  void SetUp() override { host_.load_path({default_plugin_dir(), "built-in", true}); }
  template <class I>
  PluginObject<I> make(const std::string& table, const std::vector<std::string>& overrides) {
    RawConfig raw;
    raw.file = "t.toml";
    for (const auto& o : overrides) apply_override(raw, o);
    ResolvedConfig config = resolve_config(raw, host_.registry());
    return host_.registry().create<I>(*config.plugin(table), config.plugin_options(table), host_.context());
  }
  PluginHost host_{nullptr};
};

TEST_F(OptimTest, AdamWTakesTheSameStepsAsLibTorchsAdamW) {
  auto adamw = make<Optimizer>("optim", {"optim.plugin=adamw", "optim.lr=0.01", "optim.weight_decay=0.1"});
  testing::seed(testing::Stream::inputs);
  auto ours = torch::randn({5, 3}).requires_grad_(true);
  auto theirs = ours.detach().clone().requires_grad_(true);
  auto state = adamw.object->create({{"w", ours}});
  torch::optim::AdamW reference({theirs}, torch::optim::AdamWOptions(0.01).weight_decay(0.1));
  for (int step = 0; step < 5; ++step) {
    auto target = torch::randn({5, 3});
    for (auto* p : {&ours, &theirs}) {
      p->mutable_grad() = torch::Tensor();
      ((*p - target).pow(2)).sum().backward();
    }
    state->step(0.01);
    reference.step();
  }
  EXPECT_TRUE(torch::allclose(ours, theirs, 1e-6, 1e-7));
  auto saved = state->state();
  auto restored = adamw.object->create({{"w", ours}});
  restored->load_state(saved);
  EXPECT_EQ(restored->state().size(), 3u);  // exp_avg, exp_avg_sq, step
}

// Parameters with other learning-rate scales and weight decays update in
// groups of their own, each as LibTorch's AdamW does with that group's options;
// the saved step counts resume.
TEST_F(OptimTest, AdamWGroupsFollowLibTorchsParameterGroups) {
  auto adamw = make<Optimizer>("optim", {"optim.plugin=adamw", "optim.lr=0.01", "optim.weight_decay=0.1",
                                         "optim.no_decay_norms_and_biases=true", "optim.lr_scales=[\"head.w=2.0\"]"});
  testing::seed(testing::Stream::inputs);
  std::vector<torch::Tensor> ours{torch::randn({4, 3}), torch::randn({3}), torch::randn({2, 2})}, theirs;
  for (auto& t : ours) {
    t.requires_grad_(true);
    theirs.push_back(t.detach().clone().requires_grad_(true));
  }
  auto state = adamw.object->create({{"head.w", ours[0]}, {"head.b", ours[1]}, {"trunk.w", ours[2]}});
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{theirs[0]},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.02).weight_decay(0.1)));
  groups.emplace_back(std::vector<torch::Tensor>{theirs[1]},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.01).weight_decay(0.0)));
  groups.emplace_back(std::vector<torch::Tensor>{theirs[2]},
                      std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.01).weight_decay(0.1)));
  torch::optim::AdamW reference(std::move(groups), torch::optim::AdamWOptions(0.01));
  for (int step = 0; step < 5; ++step) {
    for (auto* set : {&ours, &theirs}) {
      torch::Tensor loss = torch::zeros({});
      for (auto& t : *set) {
        t.mutable_grad() = torch::Tensor();
        loss = loss + (t * t * (step + 1)).sum();
      }
      loss.backward();
    }
    state->step(0.01);
    reference.step();
  }
  for (std::size_t i = 0; i < ours.size(); ++i) EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-6, 1e-7)) << i;
  auto saved = state->state();
  auto restored = adamw.object->create({{"head.w", ours[0]}, {"head.b", ours[1]}, {"trunk.w", ours[2]}});
  restored->load_state(saved);
  for (const auto& [name, tensor] : restored->state()) {
    if (name.size() > 5 && name.substr(name.size() - 5) == ".step") EXPECT_EQ(tensor.item<int64_t>(), 5) << name;
  }
}

TEST_F(OptimTest, ScheduleWarmsUpLinearlyThenFollowsACosine) {
  auto adamw = make<Optimizer>("optim", {"optim.plugin=adamw", "optim.lr=1.0", "optim.start_lr=0.0",
                                         "optim.end_lr=0.0", "optim.warmup=0.1"});
  auto& o = *adamw.object;
  EXPECT_DOUBLE_EQ(o.learning_rate(0.0), 0.0);
  EXPECT_DOUBLE_EQ(o.learning_rate(0.05), 0.5);
  EXPECT_DOUBLE_EQ(o.learning_rate(0.1), 1.0);
  EXPECT_NEAR(o.learning_rate(0.55), 0.5, 1e-12);  // half way through the cosine
  EXPECT_NEAR(o.learning_rate(1.0), 0.0, 1e-12);
  auto constant = make<Optimizer>("optim", {"optim.plugin=adamw", "optim.schedule=constant", "optim.lr=0.3"});
  EXPECT_DOUBLE_EQ(constant.object->learning_rate(0.7), 0.3);
}

std::vector<NamedParameter> params_with_grads(const std::vector<std::pair<std::string, float>>& grads) {
  std::vector<NamedParameter> out;
  for (const auto& [name, g] : grads) {
    auto t = torch::zeros({4}).requires_grad_(true);
    t.mutable_grad() = torch::full({4}, g);
    out.push_back({name, t});
  }
  return out;
}

TEST_F(OptimTest, ModuleClipClipsEachGroupToItsNormAndReportsIt) {
  auto clip = make<GradientPolicy>("gradient", {"gradient.plugin=module-clip", "gradient.groups=[\"aggregator\", \"depth\"]"});
  auto params = params_with_grads({{"aggregator.x", 1.0f}, {"depth_head.y", 0.1f}});
  auto decision = clip.object->apply(params);
  EXPECT_NEAR(decision.norms.at("aggregator"), 2.0, 1e-9);  // sqrt(4 * 1^2)
  EXPECT_NEAR(decision.norms.at("depth"), 0.2, 1e-7);
  EXPECT_NEAR(params[0].tensor.grad().norm().item<double>(), 1.0, 1e-5);  // clipped to 1
  EXPECT_NEAR(params[1].tensor.grad().norm().item<double>(), 0.2, 1e-7);  // under the bound
}

TEST_F(OptimTest, ModuleClipNamesATrainableParameterNoGroupCovers) {
  auto clip = make<GradientPolicy>("gradient", {"gradient.plugin=module-clip", "gradient.groups=[\"aggregator\"]"});
  try {
    clip.object->apply(params_with_grads({{"aggregator.x", 1.0f}, {"point_head.z", 1.0f}}));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'point_head.z'"));
  }
}

TEST_F(OptimTest, SkipNonfiniteVetoesAndGlobalClipClipsEverything) {
  auto skip = make<GradientPolicy>("gradient", {"gradient.plugin=skip-nonfinite"});
  EXPECT_TRUE(skip.object->apply(params_with_grads({{"a", 1.0f}, {"b", NAN}})).skip);
  EXPECT_FALSE(skip.object->apply(params_with_grads({{"a", 1.0f}})).skip);
  auto global = make<GradientPolicy>("gradient", {"gradient.plugin=global-clip", "gradient.max_norm=0.5"});
  auto params = params_with_grads({{"a", 1.0f}, {"b", 1.0f}});
  EXPECT_NEAR(global.object->apply(params).norms.at("all"), std::sqrt(8.0), 1e-6);
  EXPECT_NEAR(gradient_norm(params, 2.0), 0.5, 1e-5);
}

}  // namespace
}  // namespace vggt_lab
