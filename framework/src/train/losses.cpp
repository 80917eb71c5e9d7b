#include "train/losses.hpp"

#include <cfenv>
#include <cmath>

#include "vggt_lab/geometry.hpp"

namespace vggt_lab::train {
namespace {

namespace F = torch::nn::functional;

torch::Tensor zero_like(const torch::Tensor& t) { return (t * 0).mean(); }

bool has(const TensorMap& m, const std::string& key) { return m.count(key) > 0; }

void camera(const TensorMap& pred, const TensorMap& batch, const LossOptions& o, TensorMap& out) {
  std::vector<torch::Tensor> stages;
  for (int i = 0; has(pred, "pose_enc_list." + std::to_string(i)); ++i) stages.push_back(pred.at("pose_enc_list." + std::to_string(i)));
  const auto& images = batch.at("images");
  auto gt = geometry::extri_intri_to_pose_encoding(batch.at("extrinsics"), batch.at("intrinsics"),
                                                   images.size(-2), images.size(-1));
  auto valid = batch.at("point_masks").select(1, 0).sum({-1, -2}) > 100;
  const int n = int(stages.size());
  torch::Tensor T = torch::zeros({}, gt.options()), R = T, FL = T;
  for (int i = 0; i < n; ++i) {
    double weight = std::pow(0.6, n - i - 1);
    const auto& p = stages[i];
    if (valid.sum().item<int64_t>() == 0) {
      T = T + zero_like(p);
      continue;
    }
    auto pv = p.index({valid}), gv = gt.index({valid});
    auto lt = check_and_fix_inf_nan((pv.slice(-1, 0, 3) - gv.slice(-1, 0, 3)).abs()).clamp_max(100).mean();
    auto lr = check_and_fix_inf_nan((pv.slice(-1, 3, 7) - gv.slice(-1, 3, 7)).abs()).mean();
    auto lf = check_and_fix_inf_nan((pv.slice(-1, 7) - gv.slice(-1, 7)).abs()).mean();
    T = T + lt * weight;
    R = R + lr * weight;
    FL = FL + lf * weight;
  }
  T = T / n;
  R = R / n;
  FL = FL / n;
  auto loss = T + R + 0.5 * FL;
  out["loss_camera"] = loss;
  out["loss_T"] = T;
  out["loss_R"] = R;
  out["loss_FL"] = FL;
  out["loss"] = out["loss"] + o.camera_weight * loss;
}

/// The mean over `across`: this part's sum over the count of all parts.
torch::Tensor mean(const torch::Tensor& t, const Across& across) {
  return t.sum() / across.sum(double(t.numel()));
}

/// Confidence-weighted regression (upstream regression_loss) for depth or points.
void regression(const std::string& name, const torch::Tensor& pred, const torch::Tensor& conf,
                torch::Tensor gt, const torch::Tensor& mask, bool normals, double weight,
                const LossOptions& o, const Across& across, TensorMap& out) {
  gt = check_and_fix_inf_nan(gt);
  torch::Tensor lc, lr, lg;
  if (across.sum(mask.sum().item<double>()) < 100) {
    lc = lr = lg = zero_like(pred);
  } else {
    auto reg = check_and_fix_inf_nan((gt.index({mask}) - pred.index({mask})).norm(2, -1));
    auto cv = conf.index({mask});
    auto conf_loss = check_and_fix_inf_nan(reg * cv - o.alpha * torch::log(cv));
    const int64_t B = pred.size(0), S = pred.size(1), H = pred.size(2), W = pred.size(3), C = pred.size(4);
    auto p = pred.reshape({B * S, H, W, C}), g = gt.reshape({B * S, H, W, C});
    auto m = mask.reshape({B * S, H, W});
    const int scales = normals ? 3 : 4;
    lg = torch::zeros({}, pred.options());
    for (int s = 0; s < scales; ++s) {
      int64_t step = int64_t(1) << s;
      auto sub = [&](const torch::Tensor& t) { return t.slice(1, 0, c10::nullopt, step).slice(2, 0, c10::nullopt, step); };
      lg = lg + (normals ? normal_loss(sub(p), sub(g), sub(m), across) : gradient_loss(sub(p), sub(g), sub(m), across));
    }
    lg = lg / scales;
    auto finish = [&](torch::Tensor t) {
      if (across.sum(double(t.numel())) == 0) return zero_like(pred);
      if (o.valid_range > 0) t = filter_by_quantile(t, o.valid_range, across);
      return mean(check_and_fix_inf_nan(t), across);
    };
    lc = finish(conf_loss);
    lr = finish(reg);
  }
  out["loss_conf_" + name] = lc;
  out["loss_reg_" + name] = lr;
  out["loss_grad_" + name] = lg;
  out["loss"] = out["loss"] + weight * (lc + lr + lg);
}

void track(const TensorMap& pred, const TensorMap& batch, const LossOptions& o, TensorMap& out) {
  std::vector<torch::Tensor> iterations;
  for (int i = 0; has(pred, "track_list." + std::to_string(i)); ++i) iterations.push_back(pred.at("track_list." + std::to_string(i)));
  auto gt = check_and_fix_inf_nan(batch.at("tracks"), 0);
  auto vis = batch.at("track_masks");
  auto valids = vis.select(1, 0).unsqueeze(1).expand_as(vis);
  auto combined = valids & vis;
  const int n = int(iterations.size());
  torch::Tensor flow = torch::zeros({}, gt.options()), vis_loss = flow, conf_loss = flow;
  if (valids.any().item<bool>()) {
    for (int i = 0; i < n; ++i) {
      auto l = check_and_fix_inf_nan((iterations[i] - gt).abs(), 0).mean(-1);
      flow = flow + std::pow(0.8, n - i - 1) * (combined.sum().item<int64_t>() > 2 ? l.index({combined}).mean() : 0 * l.mean());
    }
    flow = flow / std::max(1, n);
    auto probability = [](const torch::Tensor& p) { return p.clamp(1e-6, 1 - 1e-6); };
    vis_loss = check_and_fix_inf_nan(F::binary_cross_entropy(probability(pred.at("vis").index({valids})), vis.index({valids}).to(torch::kFloat)), 0);
    auto close = (gt - iterations.back()).norm(2, -1) < 3;
    conf_loss = check_and_fix_inf_nan(F::binary_cross_entropy(probability(pred.at("conf").index({valids})), close.index({valids}).to(torch::kFloat)), 0);
  } else {
    flow = zero_like(iterations.back()) + zero_like(pred.at("vis")) + zero_like(pred.at("conf"));
  }
  out["loss_track"] = flow;
  out["loss_vis"] = vis_loss;
  out["loss_track_conf"] = conf_loss;
  out["loss"] = out["loss"] + o.track_weight * (flow + vis_loss + conf_loss);
}

}  // namespace

torch::Tensor check_and_fix_inf_nan(const torch::Tensor& x, double hard_max) {
  auto fixed = torch::where(torch::isfinite(x), x, torch::zeros_like(x));
  return hard_max > 0 ? fixed.clamp(-hard_max, hard_max) : fixed;
}

double Across::sum(double local) const {
  if (!group_) return local;
  return group_->all_gather(torch::tensor({local}, torch::kDouble), 0).sum().item<double>();
}

torch::Tensor Across::all(const torch::Tensor& local) const { return group_ ? group_->all_gather(local, 0) : local; }

torch::Tensor filter_by_quantile(const torch::Tensor& loss, double q, const Across& across) {
  constexpr double kMinElements = 1000;
  constexpr double kHardMax = 100;
  if (across.sum(double(loss.numel())) <= kMinElements) return loss;
  auto clamped = loss.clamp_max(kHardMax);
  auto flat = across.all(clamped.detach().reshape(-1));
  std::fesetround(FE_TONEAREST);  // Python's round(): ties to even
  int64_t k = int64_t(std::nearbyint(q * double(flat.size(0) - 1))) + 1;
  double threshold = std::min(std::get<0>(flat.kthvalue(k)).item<double>(), kHardMax);
  auto keep = clamped < threshold;
  if (across.sum(keep.sum().item<double>()) > kMinElements) return clamped.index({keep});
  return clamped;
}

torch::Tensor gradient_loss(const torch::Tensor& prediction, const torch::Tensor& target, const torch::Tensor& mask_in,
                            const Across& across) {
  auto mask = mask_in.unsqueeze(-1).expand_as(prediction).to(prediction.scalar_type());
  auto diff = mask * (prediction - target);
  auto gx = ((diff.slice(2, 1) - diff.slice(2, 0, -1)).abs() * mask.slice(2, 1) * mask.slice(2, 0, -1)).clamp_max(100);
  auto gy = ((diff.slice(1, 1) - diff.slice(1, 0, -1)).abs() * mask.slice(1, 1) * mask.slice(1, 0, -1)).clamp_max(100);
  const double divisor = across.sum(mask.sum().item<double>());
  if (divisor == 0) return torch::zeros({}, prediction.options());
  return (gx.sum() + gy.sum()) / divisor;
}

torch::Tensor normal_loss(const torch::Tensor& prediction, const torch::Tensor& target, const torch::Tensor& mask,
                          const Across& across) {
  auto normals = [&](const torch::Tensor& points) {
    auto pts = F::pad(points.permute({0, 3, 1, 2}), F::PadFuncOptions({1, 1, 1, 1})).permute({0, 2, 3, 1});
    auto center = pts.slice(1, 1, -1).slice(2, 1, -1);
    auto up = pts.slice(1, 0, -2).slice(2, 1, -1) - center, left = pts.slice(1, 1, -1).slice(2, 0, -2) - center;
    auto down = pts.slice(1, 2).slice(2, 1, -1) - center, right = pts.slice(1, 1, -1).slice(2, 2) - center;
    auto n = torch::stack({torch::cross(up, left, -1), torch::cross(left, down, -1),
                           torch::cross(down, right, -1), torch::cross(right, up, -1)});
    return F::normalize(n, F::NormalizeFuncOptions().p(2).dim(-1).eps(1e-8));
  };
  auto m = F::pad(mask.to(torch::kFloat), F::PadFuncOptions({1, 1, 1, 1})).to(torch::kBool);
  auto c = m.slice(1, 1, -1).slice(2, 1, -1);
  auto valid = torch::stack({m.slice(1, 0, -2).slice(2, 1, -1) & c & m.slice(1, 1, -1).slice(2, 0, -2),
                             m.slice(1, 1, -1).slice(2, 0, -2) & c & m.slice(1, 2).slice(2, 1, -1),
                             m.slice(1, 2).slice(2, 1, -1) & c & m.slice(1, 1, -1).slice(2, 2),
                             m.slice(1, 1, -1).slice(2, 2) & c & m.slice(1, 0, -2).slice(2, 1, -1)});
  if (across.sum(valid.sum().item<double>()) < 10) return torch::zeros({}, prediction.options());
  auto dot = (normals(prediction).index({valid}) * normals(target).index({valid})).sum(-1).clamp(-1 + 1e-8, 1 - 1e-8);
  return mean(check_and_fix_inf_nan(1 - dot), across);
}

TensorMap vggt_losses(const TensorMap& pred, const TensorMap& batch, const LossOptions& o, const Across& across) {
  TensorMap out{{"loss", torch::zeros({}, batch.at("images").options())}};
  if (has(pred, "pose_enc_list.0") && o.camera_weight > 0) camera(pred, batch, o, out);
  const auto& masks = batch.at("point_masks");
  if (has(pred, "depth") && o.depth_weight > 0) {
    regression("depth", pred.at("depth"), pred.at("depth_conf"), batch.at("depths").unsqueeze(-1), masks,
               false, o.depth_weight, o, across, out);
  }
  if (has(pred, "world_points") && o.point_weight > 0) {
    regression("point", pred.at("world_points"), pred.at("world_points_conf"), batch.at("world_points"),
               masks, true, o.point_weight, o, across, out);
  }
  if (has(pred, "track_list.0") && has(batch, "tracks") && o.track_weight > 0) track(pred, batch, o, out);
  return out;
}

LossOptions loss_options(const Options& t) {
  return {t.get<double>("camera_weight"), t.get<double>("depth_weight"), t.get<double>("point_weight"),
          t.get<double>("track_weight"), t.get<double>("loss_alpha"), t.get<double>("valid_range")};
}

}  // namespace vggt_lab::train
