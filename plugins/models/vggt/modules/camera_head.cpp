#include "modules/heads.hpp"

namespace vggt_plugin {

torch::Tensor activate_pose(const torch::Tensor& pose_enc) {
  return torch::cat({pose_enc.slice(-1, 0, 7), torch::relu(pose_enc.slice(-1, 7))}, -1);
}

CameraHeadImpl::CameraHeadImpl(const CameraHeadOptions& o) : options(o) {
  const int64_t dim = o.dim_in;
  trunk = register_module("trunk", torch::nn::ModuleList());
  BlockOptions block{dim, o.num_heads, o.mlp_ratio, o.init_values, false, 1e-5, nullptr};
  for (int64_t i = 0; i < o.trunk_depth; ++i) trunk->push_back(Block(block));
  token_norm = register_module("token_norm", layer_norm(dim));
  trunk_norm = register_module("trunk_norm", layer_norm(dim));
  empty_pose_tokens = register_parameter("empty_pose_tokens", torch::zeros({1, 1, 9}));
  embed_pose = register_module("embed_pose", torch::nn::Linear(9, dim));
  poseLN_modulation = register_module(
      "poseLN_modulation", torch::nn::Sequential(torch::nn::SiLU(), torch::nn::Linear(dim, 3 * dim)));
  adaln_norm = register_module("adaln_norm", layer_norm(dim, 1e-6, false));
  pose_branch = register_module("pose_branch", Mlp(dim, dim / 2, 9));
}

std::vector<torch::Tensor> CameraHeadImpl::forward(const torch::Tensor& last_layer) {
  auto pose_tokens = token_norm(last_layer.select(2, 0));  // camera token: [B, S, 2C]
  const int64_t B = pose_tokens.size(0), S = pose_tokens.size(1);
  torch::Tensor pred;
  std::vector<torch::Tensor> out;
  for (int64_t it = 0; it < options.iterations; ++it) {
    // Upstream detaches the running prediction itself, so each iteration's
    // gradient reaches only its own delta.
    if (pred.defined()) pred = pred.detach();
    auto input = pred.defined() ? embed_pose(pred) : embed_pose(empty_pose_tokens.expand({B, S, -1}));
    auto modulation = poseLN_modulation->forward(input).chunk(3, -1);
    const auto &shift = modulation[0], &scale = modulation[1], &gate = modulation[2];
    auto h = gate * (adaln_norm(pose_tokens) * (1 + scale) + shift) + pose_tokens;
    for (const auto& block : *trunk) h = block->as<Block>()->forward(h);
    auto delta = pose_branch(trunk_norm(h));
    pred = pred.defined() ? pred + delta : delta;
    out.push_back(activate_pose(pred));
  }
  return out;
}

}  // namespace vggt_plugin
