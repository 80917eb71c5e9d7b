#include "modules/heads.hpp"

namespace vggt_plugin {
namespace {

namespace F = torch::nn::functional;

/// Samples input [N, C, H, W] at pixel coordinates grid [N, ..., 2] (x, y),
/// align_corners=True convention; coordinates carry no gradient (upstream
/// detaches them).
torch::Tensor bilinear_sample(const torch::Tensor& input, const torch::Tensor& coords,
                              torch::enumtype::kBorder) {
  auto scale = torch::tensor({2.0 / std::max<int64_t>(input.size(3) - 1, 1),
                              2.0 / std::max<int64_t>(input.size(2) - 1, 1)},
                             coords.options());
  auto grid = coords.detach() * scale - 1;
  return F::grid_sample(input, grid,
                        F::GridSampleFuncOptions().align_corners(true).padding_mode(torch::kBorder));
}

torch::Tensor bilinear_sample_zeros(const torch::Tensor& input, const torch::Tensor& coords) {
  auto scale = torch::tensor({2.0 / std::max<int64_t>(input.size(3) - 1, 1),
                              2.0 / std::max<int64_t>(input.size(2) - 1, 1)},
                             coords.options());
  auto grid = coords.detach() * scale - 1;
  return F::grid_sample(input, grid,
                        F::GridSampleFuncOptions().align_corners(true).padding_mode(torch::kZeros));
}

/// input [B, C, H, W], coords [B, R, 2] -> [B, R, C].
torch::Tensor sample_features(const torch::Tensor& input, const torch::Tensor& coords) {
  auto feats = bilinear_sample(input, coords.unsqueeze(2), torch::kBorder);  // [B, C, R, 1]
  return feats.permute({0, 2, 1, 3}).reshape({input.size(0), -1, feats.size(1)});
}

/// Sin/cos of each coordinate of xy [.., 2], interleaved per frequency.
torch::Tensor embed_2d(const torch::Tensor& xy, int64_t channels) {
  auto div = torch::arange(0, channels, 2, xy.options()) * (1000.0 / channels);
  auto embed = [&](const torch::Tensor& v) {
    auto angles = v * div;  // [..., channels / 2]
    return torch::stack({angles.sin(), angles.cos()}, -1).flatten(-2);
  };
  return torch::cat({embed(xy.slice(-1, 0, 1)), embed(xy.slice(-1, 1, 2))}, -1);
}

/// The 2D sin-cos table [1, dim, h, w] (base 10000), x then y.
torch::Tensor sincos_table(int64_t dim, int64_t h, int64_t w, const torch::Device& device) {
  auto grid = torch::meshgrid({torch::arange(h, torch::kFloat), torch::arange(w, torch::kFloat)}, "ij");
  auto one_d = [&](const torch::Tensor& pos) {
    auto omega = torch::arange(dim / 4, torch::kDouble) / (dim / 4.0);
    omega = 1.0 / torch::pow(10000.0, omega);
    auto angles = torch::outer(pos.reshape(-1).to(torch::kDouble), omega);
    return torch::cat({angles.sin(), angles.cos()}, 1);
  };
  auto emb = torch::cat({one_d(grid[1]), one_d(grid[0])}, 1).to(torch::kFloat);
  return emb.view({1, h, w, dim}).permute({0, 3, 1, 2}).to(device);
}

/// The correlation pyramid: each level's volume is built, sampled around the
/// current coordinates and discarded.
class CorrPyramid {
 public:
  CorrPyramid(const torch::Tensor& fmaps, int64_t levels, int64_t radius) : radius_(radius) {
    pyramid_.push_back(fmaps);
    auto current = fmaps;
    for (int64_t i = 1; i < levels; ++i) {
      const int64_t B = current.size(0), S = current.size(1), C = current.size(2);
      auto pooled = F::avg_pool2d(current.reshape({B * S, C, current.size(3), current.size(4)}),
                                  F::AvgPool2dFuncOptions(2).stride(2));
      current = pooled.reshape({B, S, C, pooled.size(2), pooled.size(3)});
      pyramid_.push_back(current);
    }
    auto d = torch::linspace(-radius, radius, 2 * radius + 1, fmaps.options());
    auto mesh = torch::meshgrid({d, d}, "ij");
    // Upstream stacks (dy, dx) and adds it to (x, y): the row offset moves x.
    delta_ = torch::stack({mesh[0], mesh[1]}, -1).view({1, 2 * radius + 1, 2 * radius + 1, 2});
  }

  /// targets [B, S, N, C], coords [B, S, N, 2] -> [B, S, N, levels * (2r+1)^2]
  torch::Tensor sample(const torch::Tensor& targets, const torch::Tensor& coords) const {
    const int64_t B = targets.size(0), S = targets.size(1), N = targets.size(2);
    std::vector<torch::Tensor> out;
    for (std::size_t i = 0; i < pyramid_.size(); ++i) {
      const auto& fmaps = pyramid_[i];
      const int64_t C = fmaps.size(2), H = fmaps.size(3), W = fmaps.size(4);
      auto corr = torch::matmul(targets, fmaps.view({B, S, C, H * W})) / std::sqrt(double(C));
      auto centroid = coords.reshape({B * S * N, 1, 1, 2}) / double(1 << i);
      auto sampled = bilinear_sample_zeros(corr.reshape({B * S * N, 1, H, W}), centroid + delta_);
      out.push_back(sampled.view({B, S, N, -1}));
    }
    return torch::cat(out, -1);
  }

 private:
  int64_t radius_;
  std::vector<torch::Tensor> pyramid_;
  torch::Tensor delta_;
};

}  // namespace

AttnBlockImpl::AttnBlockImpl(int64_t hidden, int64_t heads, bool is_cross) : cross(is_cross) {
  norm1 = register_module("norm1", layer_norm(hidden));
  if (cross) norm_context = register_module("norm_context", layer_norm(hidden));
  norm2 = register_module("norm2", layer_norm(hidden));
  attn = register_module(cross ? "cross_attn" : "attn", MultiheadAttention(hidden, heads));
  mlp = register_module("mlp", Mlp(hidden, 4 * hidden, hidden));
}

torch::Tensor AttnBlockImpl::forward(const torch::Tensor& input, const torch::Tensor& context) {
  // Upstream quirk: the residual adds to the normalised x.
  auto x = norm1(input);
  auto kv = cross ? norm_context(context) : x;
  x = x + attn(x, kv, kv);
  return x + mlp(norm2(x));
}

UpdateFormerImpl::UpdateFormerImpl(const TrackerOptions& o, int64_t input_dim) : options(o) {
  const int64_t hidden = o.hidden_size;
  input_norm = register_module("input_norm", layer_norm(input_dim));
  input_transform = register_module("input_transform", torch::nn::Linear(input_dim, hidden));
  output_norm = register_module("output_norm", layer_norm(hidden));
  flow_head = register_module("flow_head", torch::nn::Linear(hidden, o.latent_dim + 2));
  virual_tracks = register_parameter("virual_tracks", torch::randn({1, o.num_virtual_tracks, 1, hidden}));
  auto make = [&](const char* name, bool cross) {
    auto list = register_module(name, torch::nn::ModuleList());
    for (int64_t i = 0; i < o.depth; ++i) list->push_back(AttnBlock(hidden, o.num_heads, cross));
    return list;
  };
  time_blocks = make("time_blocks", false);
  space_virtual_blocks = make("space_virtual_blocks", false);
  space_point2virtual_blocks = make("space_point2virtual_blocks", true);
  space_virtual2point_blocks = make("space_virtual2point_blocks", true);
  for (auto& module : modules(false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      torch::nn::init::xavier_uniform_(linear->weight);
      torch::nn::init::zeros_(linear->bias);
    }
  }
  trunc_normal_(flow_head->weight, 0.001);
}

torch::Tensor UpdateFormerImpl::forward(const torch::Tensor& input) {
  auto init_tokens = input_transform(input_norm(input));
  const int64_t B = init_tokens.size(0), N = init_tokens.size(1), T = init_tokens.size(2);
  const int64_t V = options.num_virtual_tracks, C = init_tokens.size(3);
  auto tokens = torch::cat({init_tokens, virual_tracks.repeat({B, 1, T, 1})}, 1);
  for (int64_t i = 0; i < options.depth; ++i) {
    auto time = time_blocks[i]->as<AttnBlock>()->forward(tokens.reshape({B * (N + V), T, C}));
    auto space = time.view({B, N + V, T, C}).permute({0, 2, 1, 3}).reshape({B * T, N + V, C});
    auto points = space.slice(1, 0, N), virtuals = space.slice(1, N);
    virtuals = space_virtual2point_blocks[i]->as<AttnBlock>()->forward(virtuals, points);
    virtuals = space_virtual_blocks[i]->as<AttnBlock>()->forward(virtuals);
    points = space_point2virtual_blocks[i]->as<AttnBlock>()->forward(points, virtuals);
    tokens = torch::cat({points, virtuals}, 1).view({B, T, N + V, C}).permute({0, 2, 1, 3});
  }
  return flow_head(output_norm(tokens.slice(1, 0, N) + init_tokens));
}

TrackerImpl::TrackerImpl(TrackerOptions o) : options(o) {
  const int64_t latent = o.latent_dim, dim = 3 * latent + 4;
  const int64_t corr = o.corr_levels * (2 * o.corr_radius + 1) * (2 * o.corr_radius + 1);
  corr_mlp = register_module("corr_mlp", Mlp(corr, o.hidden_size, latent));
  query_ref_token = register_parameter("query_ref_token", torch::randn({1, 2, dim}));
  updateformer = register_module("updateformer", UpdateFormer(o, dim));
  fmap_norm = register_module("fmap_norm", layer_norm(latent));
  ffeat_norm = register_module("ffeat_norm", torch::nn::GroupNorm(1, latent));
  ffeat_updater = register_module(
      "ffeat_updater", torch::nn::Sequential(torch::nn::Linear(latent, latent), torch::nn::GELU()));
  vis_predictor = register_module("vis_predictor", torch::nn::Sequential(torch::nn::Linear(latent, 1)));
  conf_predictor = register_module("conf_predictor", torch::nn::Sequential(torch::nn::Linear(latent, 1)));
}

std::vector<torch::Tensor> TrackerImpl::forward(const torch::Tensor& query, const torch::Tensor& fmaps_in) {
  const int64_t B = query.size(0), N = query.size(1), S = fmaps_in.size(1);
  const int64_t HH = fmaps_in.size(3), WW = fmaps_in.size(4), L = options.latent_dim;
  auto fmaps = fmap_norm(fmaps_in.permute({0, 1, 3, 4, 2})).permute({0, 1, 4, 2, 3});
  auto first = query / double(options.stride);  // [B, N, 2]
  auto coords = first.reshape({B, 1, N, 2}).repeat({1, S, 1, 1});
  auto track_feats = sample_features(fmaps.select(1, 0), first).unsqueeze(1).repeat({1, S, 1, 1});
  CorrPyramid pyramid(fmaps, options.corr_levels, options.corr_radius);
  auto pos = sample_features(sincos_table(3 * L + 4, HH, WW, query.device()).expand({B, -1, -1, -1}), first)
                 .reshape({B * N, 1, -1});
  auto ref = torch::cat({query_ref_token.slice(1, 0, 1), query_ref_token.slice(1, 1, 2).expand({-1, S - 1, -1})}, 1);
  std::vector<torch::Tensor> out;
  for (int64_t it = 0; it < options.iterations; ++it) {
    coords = coords.detach();
    auto corr = corr_mlp(pyramid.sample(track_feats, coords).permute({0, 2, 1, 3}).reshape({B * N, S, -1}));
    auto flows = (coords - coords.slice(1, 0, 1)).permute({0, 2, 1, 3}).reshape({B * N, S, 2});
    auto flows_emb = torch::cat({embed_2d(flows, L / 2), flows / options.max_scale, flows / options.max_scale}, -1);
    auto feats = track_feats.permute({0, 2, 1, 3}).reshape({B * N, S, L});
    auto x = torch::cat({flows_emb, corr, feats}, 2) + pos + ref;
    auto delta = updateformer(x.reshape({B, N, S, -1})).reshape({B * N, S, L + 2});
    auto updated = ffeat_updater->forward(ffeat_norm(delta.slice(-1, 2).reshape({B * N * S, L}))) +
                   feats.reshape({B * N * S, L});
    track_feats = updated.reshape({B, N, S, L}).permute({0, 2, 1, 3});
    coords = coords + delta.slice(-1, 0, 2).reshape({B, N, S, 2}).permute({0, 2, 1, 3});
    coords = torch::cat({first.unsqueeze(1), coords.slice(1, 1)}, 1);  // frame 0 stays pinned
    out.push_back(coords * double(options.stride));
  }
  auto flat = track_feats.reshape({B * S * N, L});
  out.push_back(torch::sigmoid(vis_predictor->forward(flat)).reshape({B, S, N}));
  out.push_back(torch::sigmoid(conf_predictor->forward(flat)).reshape({B, S, N}));
  return out;
}

TrackHeadImpl::TrackHeadImpl(DptHeadOptions features, TrackerOptions tracker_options) {
  feature_extractor = register_module("feature_extractor", DptHead(std::move(features)));
  tracker = register_module("tracker", Tracker(tracker_options));
}

std::vector<torch::Tensor> TrackHeadImpl::forward(const std::vector<torch::Tensor>& layers, int64_t H,
                                                  int64_t W, int64_t patch_start_idx,
                                                  const torch::Tensor& query) {
  auto fmaps = feature_extractor(layers, H, W, patch_start_idx)[0];
  return tracker(query, fmaps);
}

}  // namespace vggt_plugin
