#include "modules/vggt.hpp"

#include <vggt_lab/compat.hpp>

namespace vggt_plugin {

AggregatorOptions aggregator_options(const VggtConfig& c) {
  AggregatorOptions o;
  o.img_size = c.img_size;
  o.patch_size = c.patch_size;
  o.dim = c.embed_dim;
  o.depth = c.depth;
  o.num_heads = c.num_heads;
  o.mlp_ratio = c.mlp_ratio;
  o.num_register_tokens = c.num_register_tokens;
  o.qk_norm = c.qk_norm;
  o.rope_freq = c.rope_freq;
  o.init_values = c.init_values;
  o.patch_embed = c.patch_embed;
  o.aa_order = c.aa_order;
  o.aa_block_size = c.aa_block_size;
  if (c.patch_embed != "conv") {
    DinoShape dino = dino_shape(c.patch_embed);
    o.dino = {c.img_size,
              c.patch_size,
              c.embed_dim,
              c.dino_depth > 0 ? c.dino_depth : dino.depth,
              c.dino_num_heads > 0 ? c.dino_num_heads : dino.num_heads,
              c.num_register_tokens};
  }
  for (int64_t layer : c.dpt_layers) o.cached_layers.insert(layer);
  return o;
}

CameraHeadOptions camera_options(const VggtConfig& c) {
  CameraHeadOptions o;
  o.dim_in = 2 * c.embed_dim;
  o.trunk_depth = c.camera_trunk_depth;
  o.num_heads = c.camera_num_heads;
  return o;
}

DptHeadOptions dpt_options(const VggtConfig& c, int64_t output_dim) {
  DptHeadOptions o;
  o.dim_in = 2 * c.embed_dim;
  o.patch_size = c.patch_size;
  o.output_dim = output_dim;
  o.activation = output_dim == 2 ? "exp" : "inv_log";
  o.features = c.dpt_features;
  o.out_channels = c.dpt_out_channels;
  o.layers = c.dpt_layers;
  o.frames_chunk_size = c.frames_chunk_size;
  return o;
}

DptHeadOptions track_feature_options(const VggtConfig& c) {
  DptHeadOptions o = dpt_options(c, 0);
  o.features = c.track_features;
  o.out_channels = c.track_out_channels;
  o.pos_embed = false;
  o.down_ratio = 2;
  return o;
}

TrackerOptions tracker_options(const VggtConfig& c) {
  TrackerOptions o;
  o.latent_dim = c.track_features;
  o.hidden_size = c.track_hidden_size;
  o.depth = c.track_depth;
  o.corr_levels = c.track_corr_levels;
  return o;
}

VggtImpl::VggtImpl(const VggtConfig& c) : config(c) {
  aggregator = register_module("aggregator", Aggregator(aggregator_options(c)));
  if (c.enable_camera) camera_head = register_module("camera_head", CameraHead(camera_options(c)));
  if (c.enable_point) point_head = register_module("point_head", DptHead(dpt_options(c, 4)));
  if (c.enable_depth) depth_head = register_module("depth_head", DptHead(dpt_options(c, 2)));
  if (c.enable_track) {
    track_head = register_module("track_head",
                                 TrackHead(track_feature_options(c), tracker_options(c)));
  }
}

std::vector<std::string> VggtImpl::head_names() const {
  std::vector<std::string> names;
  if (camera_head) names.push_back("camera_head");
  if (depth_head) names.push_back("depth_head");
  if (point_head) names.push_back("point_head");
  if (track_head) names.push_back("track_head");
  return names;
}

Predictions VggtImpl::head(const std::string& name, const std::vector<torch::Tensor>& layers,
                           int64_t H, int64_t W, const torch::Tensor& query) {
  Predictions out;
  const int64_t start = aggregator->patch_start_idx;
  std::optional<vggt_lab::compat::AutocastOff> fp32;
  if (name != "track_head") fp32.emplace();  // the track head runs under the caller's autocast
  if (name == "camera_head") {
    auto poses = camera_head(layers.back());
    for (std::size_t i = 0; i < poses.size(); ++i) out["pose_enc_list." + std::to_string(i)] = poses[i];
    out["pose_enc"] = poses.back();
  } else if (name == "depth_head" || name == "point_head") {
    bool depth = name == "depth_head";
    auto result = (depth ? depth_head : point_head)(layers, H, W, start);
    out[depth ? "depth" : "world_points"] = result[0];
    out[depth ? "depth_conf" : "world_points_conf"] = result[1];
  } else if (name == "track_head" && query.defined()) {
    auto track = track_head(layers, H, W, start, query);
    const std::size_t n = track.size();
    for (std::size_t i = 0; i + 2 < n; ++i) out["track_list." + std::to_string(i)] = track[i];
    out["track"] = track[n - 3];
    out["vis"] = track[n - 2];
    out["conf"] = track[n - 1];
  }
  return out;
}

Predictions VggtImpl::forward(torch::Tensor images, torch::Tensor query) {
  if (images.dim() == 4) images = images.unsqueeze(0);
  if (query.defined() && query.dim() == 2) query = query.unsqueeze(0);
  auto layers = aggregator(images);
  Predictions out;
  for (const auto& name : head_names()) {
    out.merge(head(name, layers, images.size(3), images.size(4), query));
  }
  return out;
}

}  // namespace vggt_plugin
