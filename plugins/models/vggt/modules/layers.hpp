#pragma once
// The building blocks shared by the aggregator, the DINOv2 backbone and the
// heads, named so that state-dict keys equal the official ones.
#include <torch/torch.h>

namespace vggt_lab {
class FrameGroup;
}

namespace vggt_plugin {

/// 2D rotary embedding: the first half of each head rotates with the y
/// position, the second with x; frequency 100 by default.
class Rope2D {
 public:
  explicit Rope2D(double frequency = 100.0) : frequency_(frequency) {}
  /// tokens [B, heads, N, D], positions [B, N, 2] (y, x) as integers.
  torch::Tensor apply(const torch::Tensor& tokens, const torch::Tensor& positions) const;

 private:
  torch::Tensor rotate_1d(const torch::Tensor& tokens, const torch::Tensor& positions,
                          int64_t max_position) const;
  double frequency_;
};

/// Per-frame patch positions (y, x), shifted by one, with zeros for the
/// `special` tokens in front: [batch, special + h*w, 2], int64.
torch::Tensor patch_positions(int64_t batch, int64_t h, int64_t w, int64_t special,
                              const torch::Device& device);

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t in, int64_t hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

struct LayerScaleImpl : torch::nn::Module {
  LayerScaleImpl(int64_t dim, double init_values);
  torch::Tensor forward(const torch::Tensor& x) { return x * gamma; }
  torch::Tensor gamma;
};
TORCH_MODULE(LayerScale);

struct BlockOptions {
  int64_t dim = 0;
  int64_t num_heads = 1;
  double mlp_ratio = 4.0;
  double init_values = 0.0;  // 0: no LayerScale
  bool qk_norm = false;
  double norm_eps = 1e-5;
  const Rope2D* rope = nullptr;  // not owned; nullptr: no rotary embedding
};

/// Multi-head self-attention with optional q/k LayerNorm and RoPE. With a
/// frame group, x holds this device's frames and the keys and values of all
/// the group's frames are gathered after RoPE.
struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const BlockOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pos, vggt_lab::FrameGroup* frames = nullptr);
  int64_t num_heads, head_dim;
  const Rope2D* rope;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  torch::nn::LayerNorm q_norm{nullptr}, k_norm{nullptr};
};
TORCH_MODULE(Attention);

using TensorFn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

/// Activation checkpointing: runs `fn` without keeping its activations and
/// recomputes them in backward (the reentrant form of torch.utils.checkpoint;
/// gradients reach the parameters `fn` uses and the floating-point inputs).
std::vector<torch::Tensor> checkpoint(TensorFn fn, const std::vector<torch::Tensor>& inputs);

/// Pre-LN transformer block: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x)).
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const BlockOptions& options);
  /// Checkpointed while training when `checkpointing` is on; `frames` as
  /// for Attention.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& pos = {}, vggt_lab::FrameGroup* frames = nullptr);
  torch::Tensor compute(const torch::Tensor& x, const torch::Tensor& pos, vggt_lab::FrameGroup* frames);
  bool checkpointing = false;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  LayerScale ls1{nullptr}, ls2{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

/// torch.nn.MultiheadAttention (batch_first) with its parameter names.
struct MultiheadAttentionImpl : torch::nn::Module {
  MultiheadAttentionImpl(int64_t dim, int64_t num_heads);
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key,
                        const torch::Tensor& value);
  int64_t num_heads;
  torch::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(MultiheadAttention);

/// Truncated normal init (torch.nn.init.trunc_normal_; LibTorch 1.13 lacks it).
void trunc_normal_(torch::Tensor tensor, double std, double a = -2.0, double b = 2.0);

torch::nn::LayerNorm layer_norm(int64_t dim, double eps = 1e-5, bool affine = true);
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                       int64_t padding = 0, bool bias = true);
/// Bilinear resize with align_corners=True, as every DPT interpolation.
torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t h, int64_t w);

}  // namespace vggt_plugin
