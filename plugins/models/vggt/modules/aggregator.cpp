#include "modules/aggregator.hpp"

namespace vggt_plugin {
namespace {

namespace F = torch::nn::functional;

/// (1, 2, X, C): index 0 for the scene's first frame, index 1 for the
/// others -> (B*S, X, C) for S frames from frame `first_frame` on.
torch::Tensor slice_expand_and_flatten(const torch::Tensor& token, int64_t B, int64_t S, int64_t first_frame) {
  const int64_t firsts = first_frame == 0 ? 1 : 0;
  auto first = token.slice(1, 0, 1).expand({B, firsts, token.size(2), token.size(3)});
  auto others = token.slice(1, 1, 2).expand({B, S - firsts, token.size(2), token.size(3)});
  return torch::cat({first, others}, 1).reshape({B * S, token.size(2), token.size(3)});
}

}  // namespace

PatchEmbedImpl::PatchEmbedImpl(int64_t patch_size, int64_t dim) {
  proj = register_module("proj", conv(3, dim, patch_size, patch_size));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& images) {
  return proj(images).flatten(2).transpose(1, 2);
}

DinoImpl::DinoImpl(const DinoOptions& o) : options(o) {
  const int64_t grid = o.img_size / o.patch_size;
  cls_token = register_parameter("cls_token", torch::randn({1, 1, o.dim}) * 1e-6);
  pos_embed = register_parameter("pos_embed", torch::empty({1, grid * grid + 1, o.dim}));
  trunc_normal_(pos_embed, 0.02);
  if (o.num_register_tokens > 0) {
    register_tokens = register_parameter(
        "register_tokens", torch::randn({1, o.num_register_tokens, o.dim}) * 1e-6);
  }
  mask_token = register_parameter("mask_token", torch::zeros({1, o.dim}), false);
  patch_embed = register_module("patch_embed", PatchEmbed(o.patch_size, o.dim));
  blocks = register_module("blocks", torch::nn::ModuleList());
  BlockOptions block{o.dim, o.num_heads, 4.0, 1.0, false, 1e-6, nullptr};
  for (int64_t i = 0; i < o.depth; ++i) blocks->push_back(Block(block));
  norm = register_module("norm", layer_norm(o.dim, 1e-6));
  // timm ViT init for the linear layers: truncated normal (std 0.02), zero bias.
  for (auto& module : modules(false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      trunc_normal_(linear->weight, 0.02);
      torch::nn::init::zeros_(linear->bias);
    }
  }
}

torch::Tensor DinoImpl::interpolated_pos_embed(int64_t h, int64_t w) const {
  const int64_t n = pos_embed.size(1) - 1;
  const auto m = static_cast<int64_t>(std::llround(std::sqrt(double(n))));
  if (h * w == n && h == w) return pos_embed;
  auto original = pos_embed.to(torch::kFloat);
  auto patch = original.slice(1, 1).reshape({1, m, m, options.dim}).permute({0, 3, 1, 2});
  patch = F::interpolate(patch, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{h, w})
                                    .mode(torch::kBicubic)
                                    .align_corners(false)
                                    .antialias(true));
  patch = patch.permute({0, 2, 3, 1}).reshape({1, h * w, options.dim});
  return torch::cat({original.slice(1, 0, 1), patch}, 1).to(pos_embed.scalar_type());
}

torch::Tensor DinoImpl::forward(const torch::Tensor& images) {
  const int64_t N = images.size(0);
  const int64_t h = images.size(2) / options.patch_size, w = images.size(3) / options.patch_size;
  auto x = patch_embed(images);
  x = torch::cat({cls_token.expand({N, -1, -1}), x}, 1) + interpolated_pos_embed(h, w);
  if (register_tokens.defined()) {
    x = torch::cat({x.slice(1, 0, 1), register_tokens.expand({N, -1, -1}), x.slice(1, 1)}, 1);
  }
  for (const auto& block : *blocks) x = block->as<Block>()->forward(x);
  return norm(x).slice(1, 1 + options.num_register_tokens);
}

AggregatorImpl::AggregatorImpl(AggregatorOptions o)
    : options(std::move(o)), patch_start_idx(1 + options.num_register_tokens) {
  const auto& c = options;
  if (c.rope_freq > 0) rope = std::make_unique<Rope2D>(c.rope_freq);
  camera_token = register_parameter("camera_token", torch::randn({1, 2, 1, c.dim}) * 1e-6);
  register_token = register_parameter(
      "register_token", torch::randn({1, 2, c.num_register_tokens, c.dim}) * 1e-6);
  if (c.patch_embed == "conv") {
    patch_embed = torch::nn::AnyModule(register_module("patch_embed", PatchEmbed(c.patch_size, c.dim)));
  } else {
    patch_embed = torch::nn::AnyModule(register_module("patch_embed", Dino(c.dino)));
  }
  BlockOptions block{c.dim, c.num_heads, c.mlp_ratio, c.init_values, c.qk_norm, 1e-5, rope.get()};
  frame_blocks = register_module("frame_blocks", torch::nn::ModuleList());
  global_blocks = register_module("global_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    frame_blocks->push_back(Block(block));
    global_blocks->push_back(Block(block));
  }
  resnet_mean = register_buffer("_resnet_mean", torch::tensor({0.485f, 0.456f, 0.406f}).view({1, 1, 3, 1, 1}));
  resnet_std = register_buffer("_resnet_std", torch::tensor({0.229f, 0.224f, 0.225f}).view({1, 1, 3, 1, 1}));
}

torch::Tensor AggregatorImpl::embed(const torch::Tensor& images, int64_t first_frame) {
  const int64_t B = images.size(0), S = images.size(1);
  auto normalised = (images - resnet_mean) / resnet_std;
  auto patches = patch_embed.forward(normalised.reshape({B * S, 3, images.size(3), images.size(4)}));
  return torch::cat({slice_expand_and_flatten(camera_token, B, S, first_frame),
                     slice_expand_and_flatten(register_token, B, S, first_frame), patches},
                    1);
}

torch::Tensor AggregatorImpl::positions(int64_t B, int64_t S, int64_t h, int64_t w,
                                        const torch::Device& device) const {
  if (!rope) return {};
  return patch_positions(B * S, h, w, patch_start_idx, device);
}

std::pair<torch::Tensor, std::vector<torch::Tensor>> AggregatorImpl::group(
    int64_t j, const torch::Tensor& tokens, const torch::Tensor& pos, int64_t B, int64_t S,
    vggt_lab::FrameGroup* frames) {
  const int64_t P = tokens.size(1), C = tokens.size(2), k = options.aa_block_size;
  auto global_pos = pos.defined() ? pos.reshape({B, S * P, 2}) : pos;
  std::vector<torch::Tensor> frame, global;
  auto x = tokens;
  for (const std::string& type : options.aa_order) {
    bool is_frame = type == "frame";
    auto& blocks = is_frame ? frame_blocks : global_blocks;
    for (int64_t b = 0; b < k; ++b) {
      auto block = blocks[j * k + b]->as<Block>();
      x = is_frame ? block->forward(x.reshape({B * S, P, C}), pos)
                   : block->forward(x.reshape({B, S * P, C}), global_pos, frames);
      (is_frame ? frame : global).push_back(x.view({B, S, P, C}));
    }
  }
  std::vector<torch::Tensor> layers;
  for (int64_t b = 0; b < k; ++b) layers.push_back(torch::cat({frame[b], global[b]}, -1));
  return {x.reshape({B * S, P, C}), layers};
}

std::vector<torch::Tensor> AggregatorImpl::forward(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 5 && images.size(2) == 3,
              "images must be [B, S, 3, H, W], got ", images.sizes());
  TORCH_CHECK(images.size(3) % options.patch_size == 0 && images.size(4) % options.patch_size == 0,
              "image sides must be multiples of the patch size ", options.patch_size, ", got ",
              images.size(3), "x", images.size(4));
  const int64_t B = images.size(0), S = images.size(1);
  auto tokens = embed(images);
  auto pos = positions(B, S, images.size(3) / options.patch_size,
                       images.size(4) / options.patch_size, images.device());
  std::vector<torch::Tensor> outputs(options.depth);
  for (int64_t j = 0; j < groups(); ++j) {
    auto [next, layers] = group(j, tokens, pos, B, S);
    tokens = next;
    for (int64_t b = 0; b < options.aa_block_size; ++b) {
      int64_t i = j * options.aa_block_size + b;
      if (options.cached_layers.count(i) || i == options.depth - 1) outputs[i] = layers[b];
    }
  }
  return outputs;
}

}  // namespace vggt_plugin
