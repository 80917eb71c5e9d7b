// The LibTorch VGGT against the official implementation. Fixtures (made by
// tests/fixtures/vggt/generate_parity.py from upstream a288dd0 with Debian's
// python3-torch 1.13) hold small models' weights, inputs, every output, the
// kept aggregator layers, and gradients of a fixed projection of the outputs.
//
// Metric: max |ours - official| / max |official| per tensor.
// Tolerance: 1e-4 for outputs and layers (fp32 rounding), 1e-3 for gradients
// (longer reduction chains).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "modules/vggt.hpp"
#include "state_dict_spec.hpp"
#include "support/support.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_plugin {
namespace {

constexpr double kOutputTolerance = 1e-4;
constexpr double kGradientTolerance = 1e-3;

double relative_error(const torch::Tensor& ours, const torch::Tensor& reference) {
  double scale = std::max(reference.abs().max().item<double>(), 1e-12);
  return (ours - reference).abs().max().item<double>() / scale;
}

struct Fixture {
  std::map<std::string, torch::Tensor> tensors;
  VggtConfig config;
};

Fixture load(const std::string& name) {
  auto file = vggt_lab::load_safetensors(std::string(SOURCE_ROOT) + "/tests/fixtures/vggt/" + name +
                                         ".safetensors");
  Fixture f;
  for (auto& [key, tensor] : file.tensors) f.tensors[key] = tensor;
  auto number = [&](const char* key) { return nlohmann::json::parse(file.metadata.at(key)); };
  VggtConfig& c = f.config;
  c.img_size = number("img_size");
  c.patch_size = number("patch_size");
  c.embed_dim = number("embed_dim");
  c.depth = number("depth");
  c.num_heads = number("num_heads");
  c.num_register_tokens = number("num_register_tokens");
  c.patch_embed = file.metadata.at("patch_embed") == "conv" ? "conv" : "dinov2_vits14_reg";
  c.dino_depth = number("dino_depth");
  c.dino_num_heads = number("dino_num_heads");
  c.camera_trunk_depth = number("camera_trunk_depth");
  c.camera_num_heads = number("camera_num_heads");
  c.dpt_features = number("dpt_features");
  c.dpt_out_channels = number("dpt_out_channels").get<std::vector<int64_t>>();
  c.dpt_layers = number("dpt_layers").get<std::vector<int64_t>>();
  c.track_features = number("track_features");
  c.track_out_channels = number("track_out_channels").get<std::vector<int64_t>>();
  c.track_hidden_size = number("track_hidden_size");
  c.track_depth = number("track_depth");
  c.track_corr_levels = number("track_corr_levels");
  c.aa_order = number("aa_order").get<std::vector<std::string>>();
  c.aa_block_size = number("aa_block_size");
  return f;
}

/// Copies the official weights in; the names and order must match exactly.
void load_weights(Vggt& model, const Fixture& f) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> expected;
  for (const auto& [key, tensor] : f.tensors) {
    if (key.rfind("weights.", 0) == 0) expected.push_back(key.substr(8));
  }
  std::vector<std::string> ours;
  for (auto& item : model->named_parameters()) {
    ours.push_back(item.key());
    const auto& official = f.tensors.at("weights." + item.key());
    ASSERT_EQ(item.value().sizes(), official.sizes()) << item.key();
    item.value().copy_(official);
  }
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, expected);
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, OutputsLayersAndGradientsMatchTheOfficialModel) {
  Fixture f = load(GetParam());
  vggt_lab::testing::seed(vggt_lab::testing::Stream::weights);
  Vggt model(f.config);
  load_weights(model, f);
  if (HasFatalFailure()) return;
  const auto& images = f.tensors.at("input.images");
  auto layers = model->aggregator(images);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto it = f.tensors.find("layer." + std::to_string(i));
    if (it == f.tensors.end()) continue;
    EXPECT_LE(relative_error(layers[i], it->second), kOutputTolerance) << "layer " << i;
  }
  auto out = model(images, f.tensors.at("input.query"));
  torch::Tensor loss = torch::zeros({});
  for (const auto& [key, reference] : f.tensors) {
    if (key.rfind("output.", 0) != 0) continue;
    std::string name = key.substr(7);
    ASSERT_TRUE(out.count(name)) << name;
    EXPECT_EQ(out[name].sizes(), reference.sizes()) << name;
    EXPECT_LE(relative_error(out[name], reference), kOutputTolerance) << name;
    auto projection = f.tensors.find("projection." + name);
    if (projection != f.tensors.end()) loss = loss + (out[name] * projection->second).sum();
  }
  loss.backward();
  int compared = 0;
  for (auto& item : model->named_parameters()) {
    auto reference = f.tensors.find("grad." + item.key());
    if (reference == f.tensors.end()) continue;
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_LE(relative_error(item.value().grad(), reference->second), kGradientTolerance)
        << item.key();
    ++compared;
  }
  EXPECT_GT(compared, 100);
}

INSTANTIATE_TEST_SUITE_P(Official, Parity,
                         ::testing::Values("parity_conv_b2_s3_42x56", "parity_dino_b1_s2_42x56",
                                           "parity_dino_b1_s1_56x56",
                                           // aa_block_size 2, aa_order [global, frame]
                                           "parity_conv_aa2_b1_s2_28x42"));

TEST(VggtModule, ParameterNamesAndShapesEqualTheStateDictSpec) {
  for (const char* preset : {"tiny"}) {
    VggtConfig config;
    config.img_size = 56;
    config.embed_dim = 64;
    config.depth = 4;
    config.num_heads = 4;
    config.patch_embed = "conv";
    config.camera_trunk_depth = 1;
    config.camera_num_heads = 4;
    config.dpt_features = 32;
    config.dpt_out_channels = {32, 64, 128, 128};
    config.dpt_layers = {0, 1, 2, 3};
    config.track_features = 32;
    config.track_out_channels = {32, 64, 128, 128};
    config.track_hidden_size = 64;
    config.track_depth = 2;
    config.track_corr_levels = 4;
    Vggt model(config);
    std::vector<std::string> ours, spec;
    for (auto& item : model->named_parameters()) {
      ours.push_back(item.key() + " " + vggt_lab::shape_text(item.value().sizes().vec()));
    }
    for (const auto& t : state_dict_spec(config)) spec.push_back(t.name + " " + vggt_lab::shape_text(t.shape));
    EXPECT_EQ(ours, spec) << preset;
  }
}

}  // namespace
}  // namespace vggt_plugin
