#pragma once
// The VGGT training losses as the official release computes them
// (training/loss.py at a288dd0; track loss after its commented version and
// the paper): camera (L1 over refinement iterations, 0.6^k weights),
// depth and point (confidence-weighted with alpha, gradient / normal terms,
// 0.98-quantile filtering), track (sequence L1, visibility and confidence BCE).
#include "vggt_lab/model.hpp"
#include "vggt_lab/options.hpp"

namespace vggt_lab::train {

struct LossOptions {
  double camera_weight = 5.0, depth_weight = 1.0, point_weight = 1.0, track_weight = 0.05;
  double alpha = 0.2;          // confidence regulariser
  double valid_range = 0.98;   // quantile kept by filter_by_quantile; <= 0 keeps all
};

/// Weights and settings from [train].
VGGT_LAB_API LossOptions loss_options(const Options& train);

/// Over which frames the per-pixel losses take their counts, quantiles and
/// means: the given ones, or with a frame group those of all its devices,
/// each device's loss then being its part of the group's (the parts sum to
/// the loss of all frames). Every device must make the same calls.
class VGGT_LAB_API Across {
 public:
  Across() = default;
  explicit Across(FrameGroup* group) : group_(group) {}
  /// `local` summed over the group (in the same order on every device).
  double sum(double local) const;
  /// The group's `local` values, concatenated along dimension 0.
  torch::Tensor all(const torch::Tensor& local) const;

 private:
  FrameGroup* group_ = nullptr;
};

/// Terms for the heads whose predictions are given (a stage may hold some
/// heads only): "loss" (weighted total), "loss_camera", "loss_T", "loss_R",
/// "loss_FL", "loss_{conf,reg,grad}_{depth,point}", "loss_track",
/// "loss_vis", "loss_track_conf". batch: images, extrinsics, intrinsics,
/// depths, world_points, point_masks, tracks, track_masks. Across a frame
/// group, the depth and point terms are this device's parts; the camera and
/// track losses need all frames (call them without a group).
VGGT_LAB_API TensorMap vggt_losses(const TensorMap& predictions, const TensorMap& batch,
                                   const LossOptions& options, const Across& across = {});

/// Zeroes NaN and inf, clamps to +-hard_max (hard_max <= 0: no clamp).
VGGT_LAB_API torch::Tensor check_and_fix_inf_nan(const torch::Tensor& x, double hard_max = 100);
/// Keeps values below the q-quantile (nearest rank) when more than 1000 remain.
VGGT_LAB_API torch::Tensor filter_by_quantile(const torch::Tensor& loss, double q, const Across& across = {});
/// Mean |Δ| of adjacent pixels of the masked difference, over `scales` subsamplings.
VGGT_LAB_API torch::Tensor gradient_loss(const torch::Tensor& prediction, const torch::Tensor& target,
                                         const torch::Tensor& mask, const Across& across = {});
/// 1 - cos between normals from 4 neighbour cross products.
VGGT_LAB_API torch::Tensor normal_loss(const torch::Tensor& prediction, const torch::Tensor& target,
                                       const torch::Tensor& mask, const Across& across = {});

}  // namespace vggt_lab::train
