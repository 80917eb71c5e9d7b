#include "train/evaluation.hpp"

#include <cmath>

#include "vggt_lab/geometry.hpp"

namespace vggt_lab::train {
namespace {

constexpr double kDeg = 180.0 / 3.14159265358979323846;

double angle_between_rotations(const torch::Tensor& a, const torch::Tensor& b) {
  auto r = torch::matmul(a, b.t());
  double cos = std::clamp((r.trace().item<double>() - 1.0) / 2.0, -1.0, 1.0);
  return std::acos(cos) * kDeg;
}

double angle_between_vectors(const torch::Tensor& a, const torch::Tensor& b) {
  double na = a.norm().item<double>(), nb = b.norm().item<double>();
  if (na < 1e-12 || nb < 1e-12) return 0.0;
  double cos = std::clamp((a * b).sum().item<double>() / (na * nb), -1.0, 1.0);
  return std::acos(cos) * kDeg;
}

void camera_metrics(const TensorMap& p, const TensorMap& b, std::map<std::string, double>& out) {
  const auto& images = b.at("images");
  auto predicted = geometry::pose_encoding_to_extri_intri(p.at("pose_enc").detach().to(torch::kDouble),
                                                          images.size(-2), images.size(-1)).first;
  auto truth = b.at("extrinsics").to(torch::kDouble);
  std::vector<double> rotation, translation, worst;
  for (int64_t s = 0; s < truth.size(0); ++s) {
    for (int64_t i = 0; i < truth.size(1); ++i) {
      for (int64_t j = i + 1; j < truth.size(1); ++j) {
        auto relative = [&](const torch::Tensor& E) {  // camera j from camera i
          auto Ri = E[s][i].slice(1, 0, 3), ti = E[s][i].select(1, 3);
          auto Rj = E[s][j].slice(1, 0, 3), tj = E[s][j].select(1, 3);
          auto R = torch::matmul(Rj, Ri.t());
          return std::make_pair(R, tj - torch::matmul(R, ti));
        };
        auto [Rp, tp] = relative(predicted);
        auto [Rg, tg] = relative(truth);
        rotation.push_back(angle_between_rotations(Rp, Rg));
        translation.push_back(angle_between_vectors(tp, tg));
        worst.push_back(std::max(rotation.back(), translation.back()));
      }
    }
  }
  if (worst.empty()) return;
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); };
  out["rotation_error_deg"] = mean(rotation);
  out["translation_error_deg"] = mean(translation);
  out["auc30"] = auc(worst);
}

void depth_metrics(const TensorMap& p, const TensorMap& b, std::map<std::string, double>& out) {
  auto pred = p.at("depth").detach().squeeze(-1).to(torch::kDouble);
  auto gt = b.at("depths").to(torch::kDouble);
  auto mask = b.at("point_masks");
  double abs_rel = 0, delta = 0;
  int64_t frames = 0;
  for (int64_t s = 0; s < gt.size(0); ++s) {
    for (int64_t f = 0; f < gt.size(1); ++f) {
      auto m = mask[s][f];
      if (m.sum().item<int64_t>() < 10) continue;
      auto g = gt[s][f].index({m}), q = pred[s][f].index({m}).clamp_min(1e-9);
      auto aligned = q * (g.median() / q.median());
      abs_rel += ((aligned - g).abs() / g).mean().item<double>();
      delta += (torch::maximum(aligned / g, g / aligned) < 1.25).to(torch::kDouble).mean().item<double>();
      ++frames;
    }
  }
  if (frames == 0) return;
  out["depth_abs_rel"] = abs_rel / double(frames);
  out["depth_delta_1_25"] = delta / double(frames);
}

void point_metrics(const TensorMap& p, const TensorMap& b, std::map<std::string, double>& out) {
  auto mask = b.at("point_masks");
  if (mask.sum().item<int64_t>() < 10) return;
  auto pred = p.at("world_points").detach().to(torch::kDouble).index({mask});
  auto gt = b.at("world_points").to(torch::kDouble).index({mask});
  auto scale = gt.norm(2, -1).median() / pred.norm(2, -1).median().clamp_min(1e-9);
  out["point_error"] = (pred * scale - gt).norm(2, -1).mean().item<double>();
}

}  // namespace

double auc(const std::vector<double>& errors, int max_deg) {
  if (errors.empty()) return 0;
  double total = 0;
  for (int t = 1; t <= max_deg; ++t) {
    total += double(std::count_if(errors.begin(), errors.end(), [&](double e) { return e < t; })) / double(errors.size());
  }
  return total / max_deg;
}

std::map<std::string, double> evaluate(const TensorMap& p, const TensorMap& b) {
  std::map<std::string, double> out;
  if (p.count("pose_enc")) camera_metrics(p, b, out);
  if (p.count("depth")) depth_metrics(p, b, out);
  if (p.count("world_points")) point_metrics(p, b, out);
  return out;
}

}  // namespace vggt_lab::train
