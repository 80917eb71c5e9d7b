#include "modules/heads.hpp"

namespace vggt_plugin {
namespace {

/// [M] positions -> [M, dim]: sin then cos of pos * omega, computed in
/// float64 and returned as float32 (as upstream).
torch::Tensor sincos(const torch::Tensor& pos, int64_t dim, double omega_0) {
  auto omega = torch::arange(dim / 2, torch::kDouble) / (dim / 2.0);
  omega = 1.0 / torch::pow(omega_0, omega);
  auto angles = torch::outer(pos.reshape(-1).to(torch::kDouble), omega.to(pos.device()));
  return torch::cat({angles.sin(), angles.cos()}, 1).to(torch::kFloat);
}

}  // namespace

torch::Tensor add_pos_embed(const torch::Tensor& x, int64_t W, int64_t H, double ratio) {
  const int64_t h = x.size(-2), w = x.size(-1), channels = x.size(1);
  const double aspect = double(W) / double(H);
  const double diag = std::sqrt(aspect * aspect + 1.0);
  const double span_x = aspect / diag, span_y = 1.0 / diag;
  auto options = x.options();
  auto u = torch::linspace(-span_x * (w - 1) / w, span_x * (w - 1) / w, w, options);
  auto v = torch::linspace(-span_y * (h - 1) / h, span_y * (h - 1) / h, h, options);
  auto grid = torch::meshgrid({v, u}, "ij");  // [h, w] each
  auto emb = torch::cat({sincos(grid[1], channels / 2, 100.0), sincos(grid[0], channels / 2, 100.0)}, 1);
  emb = emb.view({h, w, channels}).permute({2, 0, 1}).unsqueeze(0).to(x.scalar_type());
  return x + ratio * emb;
}

ResidualConvUnitImpl::ResidualConvUnitImpl(int64_t features) {
  conv1 = register_module("conv1", conv(features, features, 3, 1, 1));
  conv2 = register_module("conv2", conv(features, features, 3, 1, 1));
}

torch::Tensor ResidualConvUnitImpl::forward(const torch::Tensor& x) {
  // Upstream's in-place ReLU also rewrites the skip input: the skip adds relu(x).
  auto activated = torch::relu(x);
  return activated + conv2(torch::relu(conv1(activated)));
}

FusionBlockImpl::FusionBlockImpl(int64_t features, bool has_residual) {
  out_conv = register_module("out_conv", conv(features, features, 1));
  if (has_residual) resConfUnit1 = register_module("resConfUnit1", ResidualConvUnit(features));
  resConfUnit2 = register_module("resConfUnit2", ResidualConvUnit(features));
}

torch::Tensor FusionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip, int64_t h,
                                       int64_t w) {
  auto out = resConfUnit1 ? x + resConfUnit1(skip) : x;
  out = resConfUnit2(out);
  if (h == 0) {
    h = out.size(2) * 2;
    w = out.size(3) * 2;
  }
  return out_conv(resize_bilinear(out, h, w));
}

DptHeadImpl::DptHeadImpl(DptHeadOptions o) : options(std::move(o)) {
  const auto& oc = options.out_channels;
  const int64_t features = options.features;
  norm = register_module("norm", layer_norm(options.dim_in));
  projects = register_module("projects", torch::nn::ModuleList());
  for (int64_t c : oc) projects->push_back(conv(options.dim_in, c, 1));
  resize_layers = register_module("resize_layers", torch::nn::ModuleList());
  resize_layers->push_back(torch::nn::ConvTranspose2d(
      torch::nn::ConvTranspose2dOptions(oc[0], oc[0], 4).stride(4)));
  resize_layers->push_back(torch::nn::ConvTranspose2d(
      torch::nn::ConvTranspose2dOptions(oc[1], oc[1], 2).stride(2)));
  resize_layers->push_back(torch::nn::Identity());
  resize_layers->push_back(conv(oc[3], oc[3], 3, 2, 1));
  scratch = register_module("scratch", std::make_shared<torch::nn::Module>());
  for (int k = 0; k < 4; ++k) {
    layer_rn.push_back(scratch->register_module("layer" + std::to_string(k + 1) + "_rn",
                                                conv(oc[k], features, 3, 1, 1, false)));
  }
  for (int r = 1; r <= 4; ++r) {
    refinenet.push_back(scratch->register_module("refinenet" + std::to_string(r),
                                                 FusionBlock(features, r != 4)));
  }
  if (options.output_dim == 0) {
    output_conv1 = scratch->register_module("output_conv1", conv(features, features, 3, 1, 1));
  } else {
    output_conv1 = scratch->register_module("output_conv1", conv(features, features / 2, 3, 1, 1));
    output_conv2 = scratch->register_module(
        "output_conv2", torch::nn::Sequential(conv(features / 2, 32, 3, 1, 1), torch::nn::ReLU(),
                                              conv(32, options.output_dim, 1)));
  }
}

torch::Tensor DptHeadImpl::resize(int64_t level, const torch::Tensor& x) {
  auto module = resize_layers->ptr(level);
  if (auto* transpose = module->as<torch::nn::ConvTranspose2d>()) return transpose->forward(x);
  if (auto* conv2d = module->as<torch::nn::Conv2d>()) return conv2d->forward(x);
  return x;
}

torch::Tensor DptHeadImpl::fuse(const std::vector<torch::Tensor>& levels) {
  std::vector<torch::Tensor> rn;
  for (int k = 0; k < 4; ++k) rn.push_back(layer_rn[k](levels[k]));
  auto out = refinenet[3]->forward(rn[3], torch::Tensor(), rn[2].size(2), rn[2].size(3));
  out = refinenet[2]->forward(out, rn[2], rn[1].size(2), rn[1].size(3));
  out = refinenet[1]->forward(out, rn[1], rn[0].size(2), rn[0].size(3));
  out = refinenet[0]->forward(out, rn[0], 0, 0);
  return output_conv1(out);
}

std::vector<torch::Tensor> DptHeadImpl::forward_frames(const std::vector<torch::Tensor>& layers,
                                                       int64_t H, int64_t W,
                                                       int64_t patch_start_idx, int64_t first,
                                                       int64_t last) {
  const int64_t ph = H / options.patch_size, pw = W / options.patch_size;
  std::vector<torch::Tensor> levels;
  int64_t B = 0, S = last - first;
  for (std::size_t k = 0; k < options.layers.size(); ++k) {
    const torch::Tensor& layer = layers.at(options.layers[k]);
    TORCH_CHECK(layer.defined(), "aggregator layer ", options.layers[k], " was not kept");
    B = layer.size(0);
    auto x = layer.slice(1, first, last).slice(2, patch_start_idx);
    x = norm(x.reshape({B * S, -1, x.size(-1)}));
    x = x.permute({0, 2, 1}).reshape({B * S, x.size(-1), ph, pw});
    x = projects[k]->as<torch::nn::Conv2d>()->forward(x);
    if (options.pos_embed) x = add_pos_embed(x, W, H);
    levels.push_back(resize(k, x));
  }
  auto out = fuse(levels);
  out = resize_bilinear(out, ph * options.patch_size / options.down_ratio,
                        pw * options.patch_size / options.down_ratio);
  if (options.pos_embed) out = add_pos_embed(out, W, H);
  if (options.output_dim == 0) return {out.view({B, S, out.size(1), out.size(2), out.size(3)})};
  auto fmap = output_conv2->forward(out).permute({0, 2, 3, 1});
  auto xyz = fmap.slice(-1, 0, fmap.size(-1) - 1);
  auto conf = 1 + fmap.select(-1, fmap.size(-1) - 1).exp();
  auto pred = options.activation == "exp" ? xyz.exp() : torch::sign(xyz) * torch::expm1(xyz.abs());
  return {pred.view({B, S, H, W, xyz.size(-1)}), conf.view({B, S, H, W})};
}

std::vector<torch::Tensor> DptHeadImpl::forward_chunk(const std::vector<torch::Tensor>& layers,
                                                      int64_t H, int64_t W, int64_t patch_start_idx,
                                                      int64_t first, int64_t last) {
  if (checkpoint_frames < 0 || !is_training() || !torch::GradMode::is_enabled()) {
    return forward_frames(layers, H, W, patch_start_idx, first, last);
  }
  // The chunk's slices of the layers this head reads are the checkpoint's
  // inputs, so backward hands each layer a gradient of the chunk's size.
  std::vector<torch::Tensor> slices;
  for (int64_t i : options.layers) slices.push_back(layers.at(i).slice(1, first, last));
  const std::size_t depth = layers.size();
  return checkpoint(
      [this, H, W, patch_start_idx, depth, frames = last - first](const std::vector<torch::Tensor>& in) {
        std::vector<torch::Tensor> chunk(depth);
        for (std::size_t k = 0; k < options.layers.size(); ++k) chunk[options.layers[k]] = in[k];
        return forward_frames(chunk, H, W, patch_start_idx, 0, frames);
      },
      slices);
}

std::vector<torch::Tensor> DptHeadImpl::forward(const std::vector<torch::Tensor>& layers, int64_t H,
                                                int64_t W, int64_t patch_start_idx) {
  const int64_t S = layers.at(options.layers.at(0)).size(1);
  int64_t chunk = checkpoint_frames >= 0 && is_training() ? checkpoint_frames : options.frames_chunk_size;
  if (chunk <= 0) chunk = S;
  std::vector<std::vector<torch::Tensor>> parts;
  for (int64_t first = 0; first < S; first += chunk) {
    parts.push_back(forward_chunk(layers, H, W, patch_start_idx, first, std::min(S, first + chunk)));
  }
  std::vector<torch::Tensor> out;
  for (std::size_t i = 0; i < parts[0].size(); ++i) {
    std::vector<torch::Tensor> pieces;
    for (auto& part : parts) pieces.push_back(part[i]);
    out.push_back(pieces.size() == 1 ? pieces[0] : torch::cat(pieces, 1));
  }
  return out;
}

}  // namespace vggt_plugin
