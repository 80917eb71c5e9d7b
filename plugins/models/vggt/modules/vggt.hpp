#pragma once
// The whole model, with the official module names and forward pass.
#include <map>
#include <optional>

#include "config.hpp"
#include "modules/aggregator.hpp"
#include "modules/heads.hpp"

namespace vggt_plugin {

using Predictions = std::map<std::string, torch::Tensor>;

struct VggtImpl : torch::nn::Module {
  explicit VggtImpl(const VggtConfig& config);
  /// images [S, 3, H, W] or [B, S, 3, H, W] in [0, 1]; query [N, 2] or
  /// [B, N, 2] pixels (optional). Keys as upstream: pose_enc,
  /// pose_enc_list.<i>, depth, depth_conf, world_points, world_points_conf,
  /// and with a query track, vis, conf.
  Predictions forward(torch::Tensor images, torch::Tensor query = {});
  /// Runs one head ("camera_head", "depth_head", "point_head", "track_head")
  /// on the aggregator's layers for images of H x W pixels.
  Predictions head(const std::string& name, const std::vector<torch::Tensor>& layers, int64_t H,
                   int64_t W, const torch::Tensor& query);
  std::vector<std::string> head_names() const;

  VggtConfig config;
  Aggregator aggregator{nullptr};
  CameraHead camera_head{nullptr};
  DptHead point_head{nullptr}, depth_head{nullptr};
  TrackHead track_head{nullptr};
};
TORCH_MODULE(Vggt);

/// The official options of each piece for a configuration.
AggregatorOptions aggregator_options(const VggtConfig& config);
CameraHeadOptions camera_options(const VggtConfig& config);
DptHeadOptions dpt_options(const VggtConfig& config, int64_t output_dim);
DptHeadOptions track_feature_options(const VggtConfig& config);
TrackerOptions tracker_options(const VggtConfig& config);

}  // namespace vggt_plugin
