#pragma once
// The camera, DPT (depth / point) and track heads.
#include "modules/layers.hpp"

namespace vggt_plugin {

struct CameraHeadOptions {
  int64_t dim_in = 2048;
  int64_t trunk_depth = 4;
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  double init_values = 0.01;
  int64_t iterations = 4;
};

/// Iterative refinement of the pose encoding (absT_quaR_FoV, 9 values) from
/// the last layer's camera tokens.
struct CameraHeadImpl : torch::nn::Module {
  explicit CameraHeadImpl(const CameraHeadOptions& options);
  /// last layer [B, S, P, 2C] -> activated pose encodings, one per iteration.
  std::vector<torch::Tensor> forward(const torch::Tensor& last_layer);
  CameraHeadOptions options;
  torch::Tensor empty_pose_tokens;
  torch::nn::ModuleList trunk{nullptr};
  torch::nn::LayerNorm token_norm{nullptr}, trunk_norm{nullptr}, adaln_norm{nullptr};
  torch::nn::Linear embed_pose{nullptr};
  torch::nn::Sequential poseLN_modulation{nullptr};
  Mlp pose_branch{nullptr};
};
TORCH_MODULE(CameraHead);

/// T linear, quaternion linear (not normalised), field of view ReLU.
torch::Tensor activate_pose(const torch::Tensor& pose_enc);

struct DptHeadOptions {
  int64_t dim_in = 2048;
  int64_t patch_size = 14;
  int64_t output_dim = 4;           // 0: feature_only (the track head's extractor)
  std::string activation = "inv_log";  // "inv_log" or "exp"
  int64_t features = 256;
  std::vector<int64_t> out_channels = {256, 512, 1024, 1024};
  std::vector<int64_t> layers = {4, 11, 17, 23};  // intermediate_layer_idx
  bool pos_embed = true;
  int64_t down_ratio = 1;
  int64_t frames_chunk_size = 8;    // frames per chunk: same math, less memory
};

struct ResidualConvUnitImpl : torch::nn::Module {
  explicit ResidualConvUnitImpl(int64_t features);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(ResidualConvUnit);

struct FusionBlockImpl : torch::nn::Module {
  FusionBlockImpl(int64_t features, bool has_residual);
  /// Resizes to (h, w), or doubles the size when h == 0.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip, int64_t h, int64_t w);
  torch::nn::Conv2d out_conv{nullptr};
  ResidualConvUnit resConfUnit1{nullptr}, resConfUnit2{nullptr};
};
TORCH_MODULE(FusionBlock);

struct DptHeadImpl : torch::nn::Module {
  explicit DptHeadImpl(DptHeadOptions options);
  /// layers: the aggregator's outputs for images of H x W pixels. Returns
  /// {prediction [B,S,H,W,C-1], confidence [B,S,H,W]}, or {features [B,S,F,h,w]}.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& layers, int64_t H, int64_t W,
                                     int64_t patch_start_idx);
  std::vector<torch::Tensor> forward_frames(const std::vector<torch::Tensor>& layers,
                                            int64_t H, int64_t W, int64_t patch_start_idx,
                                            int64_t first, int64_t last);
  /// forward_frames, recomputed in backward when checkpointed.
  std::vector<torch::Tensor> forward_chunk(const std::vector<torch::Tensor>& layers, int64_t H,
                                           int64_t W, int64_t patch_start_idx, int64_t first,
                                           int64_t last);
  torch::Tensor fuse(const std::vector<torch::Tensor>& levels);
  DptHeadOptions options;
  /// While training: -1 keeps every activation; 0 recomputes all frames at
  /// once in backward; K > 0 recomputes K frames at a time (as many kept).
  int64_t checkpoint_frames = -1;
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::ModuleList projects{nullptr};
  torch::nn::ModuleList resize_layers{nullptr};  // index 2 is Identity, as upstream
  std::shared_ptr<torch::nn::Module> scratch;
  std::vector<torch::nn::Conv2d> layer_rn;
  std::vector<FusionBlock> refinenet;
  torch::nn::Conv2d output_conv1{nullptr};
  torch::nn::Sequential output_conv2{nullptr};
  torch::Tensor resize(int64_t level, const torch::Tensor& x);
};
TORCH_MODULE(DptHead);

/// The DPT position embedding, added with weight 0.1 (x: [N, C, h, w]).
torch::Tensor add_pos_embed(const torch::Tensor& x, int64_t W, int64_t H, double ratio = 0.1);

struct TrackerOptions {
  int64_t latent_dim = 128;
  int64_t hidden_size = 384;
  int64_t depth = 6;
  int64_t stride = 2;
  int64_t corr_levels = 7;
  int64_t corr_radius = 4;
  int64_t num_heads = 8;
  int64_t num_virtual_tracks = 64;
  double max_scale = 518.0;
  int64_t iterations = 4;
};

struct AttnBlockImpl : torch::nn::Module {
  AttnBlockImpl(int64_t hidden, int64_t heads, bool cross);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context = {});
  bool cross;
  torch::nn::LayerNorm norm1{nullptr}, norm_context{nullptr}, norm2{nullptr};
  MultiheadAttention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(AttnBlock);

struct UpdateFormerImpl : torch::nn::Module {
  UpdateFormerImpl(const TrackerOptions& options, int64_t input_dim);
  /// [B, N, T, input_dim] -> [B, N, T, latent + 2]
  torch::Tensor forward(const torch::Tensor& input);
  TrackerOptions options;
  torch::Tensor virual_tracks;  // sic: the official name
  torch::nn::LayerNorm input_norm{nullptr}, output_norm{nullptr};
  torch::nn::Linear input_transform{nullptr}, flow_head{nullptr};
  torch::nn::ModuleList time_blocks{nullptr}, space_virtual_blocks{nullptr},
      space_point2virtual_blocks{nullptr}, space_virtual2point_blocks{nullptr};
};
TORCH_MODULE(UpdateFormer);

struct TrackerImpl : torch::nn::Module {
  explicit TrackerImpl(TrackerOptions options);
  /// query [B, N, 2] pixels, fmaps [B, S, C, h, w] -> {tracks per iteration
  /// [B, S, N, 2]..., vis [B, S, N], conf [B, S, N]}.
  std::vector<torch::Tensor> forward(const torch::Tensor& query, const torch::Tensor& fmaps);
  TrackerOptions options;
  torch::Tensor query_ref_token;
  Mlp corr_mlp{nullptr};
  UpdateFormer updateformer{nullptr};
  torch::nn::LayerNorm fmap_norm{nullptr};
  torch::nn::GroupNorm ffeat_norm{nullptr};
  torch::nn::Sequential ffeat_updater{nullptr}, vis_predictor{nullptr}, conf_predictor{nullptr};
};
TORCH_MODULE(Tracker);

struct TrackHeadImpl : torch::nn::Module {
  TrackHeadImpl(DptHeadOptions features, TrackerOptions tracker);
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& layers, int64_t H, int64_t W,
                                     int64_t patch_start_idx, const torch::Tensor& query);
  DptHead feature_extractor{nullptr};
  Tracker tracker{nullptr};
};
TORCH_MODULE(TrackHead);

}  // namespace vggt_plugin
