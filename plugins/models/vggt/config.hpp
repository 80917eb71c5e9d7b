#pragma once
// Every size knob of the official VGGT constructors, filled from a preset
// and the [model] table's overrides.
#include <cstdint>
#include <string>
#include <vector>
#include <vggt_lab/options.hpp>

namespace vggt_plugin {

struct VggtConfig {
  std::int64_t img_size = 518;
  std::int64_t patch_size = 14;
  std::int64_t embed_dim = 1024;
  std::int64_t depth = 24;  // frame/global block pairs
  std::int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  std::int64_t num_register_tokens = 4;
  std::string patch_embed = "dinov2_vitl14_reg";
  bool qk_norm = true;
  double rope_freq = 100.0;
  double init_values = 0.01;
  std::vector<int64_t> dpt_layers = {4, 11, 17, 23};  // intermediate_layer_idx
  std::vector<std::string> aa_order = {"frame", "global"};
  std::int64_t aa_block_size = 1;
  bool enable_camera = true;
  bool enable_depth = true;
  bool enable_point = true;
  bool enable_track = true;
  std::int64_t camera_trunk_depth = 4;
  std::int64_t camera_num_heads = 16;
  std::int64_t dpt_features = 256;
  std::vector<std::int64_t> dpt_out_channels = {256, 512, 1024, 1024};
  std::int64_t track_features = 128;  // TrackHead features (tracker latent_dim)
  std::vector<std::int64_t> track_out_channels = {256, 512, 1024, 1024};
  std::int64_t track_hidden_size = 384;
  std::int64_t track_depth = 6;  // update-transformer layers
  std::int64_t track_corr_levels = 7;
  std::int64_t dino_depth = 0;      // 0: the patch_embed variant's own
  std::int64_t dino_num_heads = 0;  // 0: the patch_embed variant's own
  std::int64_t frames_chunk_size = 8;  // frames a DPT head runs at once (upstream's frames_chunk_size)
};

/// The DINOv2 backbone behind a patch_embed name (depth, heads; its width is
/// the aggregator's embed_dim).
struct DinoShape {
  std::int64_t depth;
  std::int64_t num_heads;
  std::int64_t embed_dim;
};
DinoShape dino_shape(const std::string& patch_embed);

std::vector<std::string> preset_names();
std::vector<std::string> patch_embed_names();
void add_options(vggt_lab::OptionSchema& schema);
/// Throws vggt_lab::InputError for combinations the model cannot build.
VggtConfig make_config(const vggt_lab::Options& options);

}  // namespace vggt_plugin
