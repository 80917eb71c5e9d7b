#pragma once
// The aggregator: a patch embedder (DINOv2 with registers, or a plain conv)
// followed by alternating frame and global attention blocks.
#include <set>

#include "modules/layers.hpp"

namespace vggt_plugin {

/// The conv patch embedder (PatchEmbed): keys `proj.weight`, `proj.bias`.
struct PatchEmbedImpl : torch::nn::Module {
  PatchEmbedImpl(int64_t patch_size, int64_t dim);
  /// [N, 3, H, W] -> [N, h*w, dim], row-major over the patch grid.
  torch::Tensor forward(const torch::Tensor& images);
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct DinoOptions {
  int64_t img_size = 518;
  int64_t patch_size = 14;
  int64_t dim = 1024;
  int64_t depth = 24;
  int64_t num_heads = 16;
  int64_t num_register_tokens = 4;
};

/// DinoVisionTransformer as VGGT builds it (registers, LayerScale 1.0,
/// LayerNorm eps 1e-6, antialiased bicubic position interpolation).
struct DinoImpl : torch::nn::Module {
  explicit DinoImpl(const DinoOptions& options);
  /// [N, 3, H, W] -> normalised patch tokens [N, h*w, dim] (x_norm_patchtokens).
  torch::Tensor forward(const torch::Tensor& images);
  torch::Tensor interpolated_pos_embed(int64_t h, int64_t w) const;
  DinoOptions options;
  torch::Tensor cls_token, pos_embed, register_tokens, mask_token;
  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Dino);

struct AggregatorOptions {
  int64_t img_size = 518;
  int64_t patch_size = 14;
  int64_t dim = 1024;
  int64_t depth = 24;
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  int64_t num_register_tokens = 4;
  bool qk_norm = true;
  double rope_freq = 100.0;  // <= 0: no rotary embedding
  double init_values = 0.01;
  std::string patch_embed = "dinov2_vitl14_reg";
  std::vector<std::string> aa_order = {"frame", "global"};
  int64_t aa_block_size = 1;
  DinoOptions dino;                      // used unless patch_embed == "conv"
  std::set<int64_t> cached_layers;       // outputs kept for the heads
};

struct AggregatorImpl : torch::nn::Module {
  explicit AggregatorImpl(AggregatorOptions options);
  /// images [B, S, 3, H, W] in [0, 1] -> per layer [B, S, P, 2C] for the
  /// cached layers (undefined tensors elsewhere, so indices stay stable).
  std::vector<torch::Tensor> forward(const torch::Tensor& images);

  /// The pieces, so a placed model can run them as separate units.
  /// images [B, S, 3, H, W], frame `first_frame` of the scene first (the
  /// scene's frame 0 takes the first camera and register tokens) -> tokens [B*S, P, C].
  torch::Tensor embed(const torch::Tensor& images, int64_t first_frame = 0);
  torch::Tensor positions(int64_t B, int64_t S, int64_t h, int64_t w,
                          const torch::Device& device) const;  // [B*S, P, 2] or undefined
  /// Group j: aa_block_size blocks of each attention type, in aa_order.
  /// tokens [B*S, P, C] -> the next tokens and the group's layer outputs
  /// [B, S, P, 2C] (frame output first), one per block index. With a frame
  /// group, the S frames are this device's and global attention gathers.
  std::pair<torch::Tensor, std::vector<torch::Tensor>> group(int64_t j, const torch::Tensor& tokens,
                                                             const torch::Tensor& pos, int64_t B,
                                                             int64_t S, vggt_lab::FrameGroup* frames = nullptr);
  int64_t groups() const { return options.depth / options.aa_block_size; }

  AggregatorOptions options;
  int64_t patch_start_idx;
  std::unique_ptr<Rope2D> rope;
  torch::Tensor camera_token, register_token, resnet_mean, resnet_std;
  torch::nn::AnyModule patch_embed;
  torch::nn::ModuleList frame_blocks{nullptr}, global_blocks{nullptr};
};
TORCH_MODULE(Aggregator);

}  // namespace vggt_plugin
