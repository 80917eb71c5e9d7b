// The training losses against the official MultitaskLoss (training/loss.py,
// upstream a288dd0; fixture tests/fixtures/vggt/losses.safetensors): every
// term and the gradient of the objective for every prediction.
// Metric: relative error; tolerance 1e-5 for values, 1e-4 for gradients.
#include <gtest/gtest.h>

#include "train/losses.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab::train {
namespace {

std::map<std::string, torch::Tensor> fixture() {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : load_safetensors(std::string(SOURCE_ROOT) + "/tests/fixtures/vggt/losses.safetensors").tensors) out[name] = t;
  return out;
}

double relative(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-12);
}

TEST(Losses, EveryTermAndGradientMatchesTheOfficialLoss) {
  auto f = fixture();
  TensorMap batch, predictions;
  for (auto& [name, t] : f) {
    if (name.rfind("batch.", 0) == 0) batch[name.substr(6)] = t;
    if (name.rfind("pred.", 0) == 0) predictions[name.substr(5)] = t.clone().requires_grad_(true);
  }
  batch["point_masks"] = batch["point_masks"] > 0.5;
  TensorMap terms = vggt_losses(predictions, batch, LossOptions{});
  for (const char* name : {"loss_camera", "loss_T", "loss_R", "loss_FL", "loss_conf_depth", "loss_reg_depth",
                           "loss_grad_depth", "loss_conf_point", "loss_reg_point", "loss_grad_point"}) {
    EXPECT_LE(relative(terms.at(name).reshape(1), f.at(std::string("out.") + name)), 1e-5) << name;
  }
  EXPECT_LE(relative(terms.at("loss").reshape(1), f.at("out.objective")), 1e-5);
  terms.at("loss").backward();
  for (auto& [name, t] : predictions) {
    EXPECT_LE(relative(t.grad(), f.at("grad." + name)), 1e-4) << name;
  }
}

TEST(Losses, RegressionTermsAreSmallestAtTheTruth) {
  auto f = fixture();
  TensorMap batch;
  for (auto& [name, t] : f) {
    if (name.rfind("batch.", 0) == 0) batch[name.substr(6)] = t;
  }
  batch["point_masks"] = batch["point_masks"] > 0.5;
  auto conf = torch::full({2, 3, 28, 42}, 2.0);
  TensorMap exact{{"depth", batch["depths"].unsqueeze(-1)}, {"depth_conf", conf}};
  TensorMap off{{"depth", batch["depths"].unsqueeze(-1) * 1.1}, {"depth_conf", conf}};
  auto at_truth = vggt_losses(exact, batch, LossOptions{});
  EXPECT_NEAR(at_truth.at("loss_reg_depth").item<double>(), 0.0, 1e-7);
  EXPECT_NEAR(at_truth.at("loss_grad_depth").item<double>(), 0.0, 1e-7);
  EXPECT_LT(at_truth.at("loss").item<double>(), vggt_losses(off, batch, LossOptions{}).at("loss").item<double>());
}

TEST(Losses, HandComputedGradientAndQuantileTerms) {
  // A 1x2x2x1 prediction off by [[1, 0], [0, 0]] on a full mask: the masked
  // difference has |Δx| = 1 in row 0 and |Δy| = 1 in column 0, over 4 pixels.
  auto pred = torch::tensor({1.0f, 0.0f, 0.0f, 0.0f}).reshape({1, 2, 2, 1});
  auto zero = torch::zeros({1, 2, 2, 1});
  auto mask = torch::ones({1, 2, 2}, torch::kBool);
  EXPECT_FLOAT_EQ(gradient_loss(pred, zero, mask).item<float>(), 0.5f);
  // 2000 values k/2000: the 0.98 quantile (nearest rank 1960) keeps k < 1959.
  auto values = torch::arange(2000, torch::kFloat) / 2000.0;
  auto kept = filter_by_quantile(values, 0.98);
  EXPECT_EQ(kept.numel(), 1959);
  EXPECT_FLOAT_EQ(kept.max().item<float>(), 1958.0f / 2000.0f);
  // Values are clamped to 100 first; when too few stay under the quantile, all are kept.
  EXPECT_EQ(filter_by_quantile(torch::arange(2000, torch::kFloat), 0.98).max().item<float>(), 100.0f);
  EXPECT_EQ(filter_by_quantile(torch::arange(500, torch::kFloat), 0.98).numel(), 500);  // too few to filter
  auto bad = torch::tensor({1.0f, INFINITY, NAN, -500.0f});
  EXPECT_TRUE(torch::equal(check_and_fix_inf_nan(bad), torch::tensor({1.0f, 0.0f, 0.0f, -100.0f})));
}

}  // namespace
}  // namespace vggt_lab::train
