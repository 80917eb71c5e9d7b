// Names and shapes follow the official modules' registration order (own
// parameters first, then children), quirks included: `virual_tracks`,
// `poseLN_modulation.1`, refinenet4 without resConfUnit1, no resize_layers.2.
#include "state_dict_spec.hpp"

namespace vggt_plugin {
namespace {

using Shape = std::vector<std::int64_t>;

class Spec {
 public:
  std::vector<vggt_lab::TensorSpec> tensors;

  void add(const std::string& name, Shape shape) { tensors.push_back({name, std::move(shape)}); }

  void linear(const std::string& name, std::int64_t out, std::int64_t in, bool bias = true) {
    add(name + ".weight", {out, in});
    if (bias) add(name + ".bias", {out});
  }

  void norm(const std::string& name, std::int64_t dim) {
    add(name + ".weight", {dim});
    add(name + ".bias", {dim});
  }

  void conv(const std::string& name, std::int64_t out, std::int64_t in, std::int64_t k,
            bool bias = true) {
    add(name + ".weight", {out, in, k, k});
    if (bias) add(name + ".bias", {out});
  }

  /// The shared pre-LN Block with LayerScale; q/k norms act on one head.
  void block(const std::string& p, std::int64_t dim, std::int64_t heads, double mlp_ratio,
             bool qk_norm) {
    auto hidden = static_cast<std::int64_t>(static_cast<double>(dim) * mlp_ratio);
    norm(p + ".norm1", dim);
    linear(p + ".attn.qkv", 3 * dim, dim);
    if (qk_norm) {
      norm(p + ".attn.q_norm", dim / heads);
      norm(p + ".attn.k_norm", dim / heads);
    }
    linear(p + ".attn.proj", dim, dim);
    add(p + ".ls1.gamma", {dim});
    norm(p + ".norm2", dim);
    linear(p + ".mlp.fc1", hidden, dim);
    linear(p + ".mlp.fc2", dim, hidden);
    add(p + ".ls2.gamma", {dim});
  }

  /// torch.nn.MultiheadAttention's packed projections.
  void multihead(const std::string& p, std::int64_t dim) {
    add(p + ".in_proj_weight", {3 * dim, dim});
    add(p + ".in_proj_bias", {3 * dim});
    linear(p + ".out_proj", dim, dim);
  }
};

void patch_embed(Spec& s, const VggtConfig& c) {
  const std::string p = "aggregator.patch_embed";
  const std::int64_t dim = c.embed_dim;
  const std::int64_t grid = c.img_size / c.patch_size;
  if (c.patch_embed == "conv") {
    s.conv(p + ".proj", dim, 3, c.patch_size);
    return;
  }
  DinoShape dino = dino_shape(c.patch_embed);
  if (c.dino_depth > 0) dino.depth = c.dino_depth;
  s.add(p + ".cls_token", {1, 1, dim});
  s.add(p + ".pos_embed", {1, grid * grid + 1, dim});
  if (c.num_register_tokens > 0) s.add(p + ".register_tokens", {1, c.num_register_tokens, dim});
  s.add(p + ".mask_token", {1, dim});
  s.conv(p + ".patch_embed.proj", dim, 3, c.patch_size);
  for (std::int64_t i = 0; i < dino.depth; ++i) {
    s.block(p + ".blocks." + std::to_string(i), dim, 1, 4.0, false);
  }
  s.norm(p + ".norm", dim);
}

void aggregator(Spec& s, const VggtConfig& c) {
  s.add("aggregator.camera_token", {1, 2, 1, c.embed_dim});
  s.add("aggregator.register_token", {1, 2, c.num_register_tokens, c.embed_dim});
  patch_embed(s, c);
  for (const char* kind : {"frame_blocks", "global_blocks"}) {
    for (std::int64_t i = 0; i < c.depth; ++i) {
      s.block("aggregator." + std::string(kind) + "." + std::to_string(i), c.embed_dim,
              c.num_heads, c.mlp_ratio, c.qk_norm);
    }
  }
}

void camera_head(Spec& s, const VggtConfig& c) {
  const std::string p = "camera_head";
  const std::int64_t dim = 2 * c.embed_dim;
  s.add(p + ".empty_pose_tokens", {1, 1, 9});
  for (std::int64_t i = 0; i < c.camera_trunk_depth; ++i) {
    s.block(p + ".trunk." + std::to_string(i), dim, c.camera_num_heads, 4.0, false);
  }
  s.norm(p + ".token_norm", dim);
  s.norm(p + ".trunk_norm", dim);
  s.linear(p + ".embed_pose", dim, 9);
  s.linear(p + ".poseLN_modulation.1", 3 * dim, dim);
  s.linear(p + ".pose_branch.fc1", dim / 2, dim);
  s.linear(p + ".pose_branch.fc2", 9, dim / 2);
}

void fusion_block(Spec& s, const std::string& p, std::int64_t features, bool has_residual) {
  s.conv(p + ".out_conv", features, features, 1);
  for (int unit = has_residual ? 1 : 2; unit <= 2; ++unit) {
    std::string rcu = p + ".resConfUnit" + std::to_string(unit);
    s.conv(rcu + ".conv1", features, features, 3);
    s.conv(rcu + ".conv2", features, features, 3);
  }
}

/// DPTHead; output_dim 0 means feature_only (the track head's extractor).
void dpt_head(Spec& s, const std::string& p, std::int64_t dim_in, std::int64_t features,
              const std::vector<std::int64_t>& out, std::int64_t output_dim) {
  s.norm(p + ".norm", dim_in);
  for (std::size_t k = 0; k < 4; ++k) s.conv(p + ".projects." + std::to_string(k), out[k], dim_in, 1);
  s.conv(p + ".resize_layers.0", out[0], out[0], 4);  // ConvTranspose2d: [in, out, k, k]
  s.conv(p + ".resize_layers.1", out[1], out[1], 2);
  s.conv(p + ".resize_layers.3", out[3], out[3], 3);
  for (std::size_t k = 0; k < 4; ++k) {
    s.conv(p + ".scratch.layer" + std::to_string(k + 1) + "_rn", features, out[k], 3, false);
  }
  for (int r = 1; r <= 4; ++r) {
    fusion_block(s, p + ".scratch.refinenet" + std::to_string(r), features, r != 4);
  }
  if (output_dim == 0) {
    s.conv(p + ".scratch.output_conv1", features, features, 3);
    return;
  }
  s.conv(p + ".scratch.output_conv1", features / 2, features, 3);
  s.conv(p + ".scratch.output_conv2.0", 32, features / 2, 3);
  s.conv(p + ".scratch.output_conv2.2", output_dim, 32, 1);
}

void tracker(Spec& s, const VggtConfig& c) {
  const std::string p = "track_head.tracker";
  const std::int64_t latent = c.track_features, hidden = c.track_hidden_size;
  const std::int64_t depth = c.track_depth;
  const std::int64_t transformer_dim = 3 * latent + 4;
  const std::int64_t corr = c.track_corr_levels * 9 * 9;  // levels x (2 radius + 1)^2
  s.add(p + ".query_ref_token", {1, 2, transformer_dim});
  s.linear(p + ".corr_mlp.fc1", hidden, corr);
  s.linear(p + ".corr_mlp.fc2", latent, hidden);
  const std::string u = p + ".updateformer";
  s.add(u + ".virual_tracks", {1, 64, 1, hidden});
  s.norm(u + ".input_norm", transformer_dim);
  s.linear(u + ".input_transform", hidden, transformer_dim);
  s.norm(u + ".output_norm", hidden);
  s.linear(u + ".flow_head", latent + 2, hidden);
  // Self-attention blocks (time, virtual) then cross-attention blocks, which
  // also normalise their context.
  for (std::string group : {"time_blocks", "space_virtual_blocks", "space_point2virtual_blocks",
                            "space_virtual2point_blocks"}) {
    bool cross = group.find("2") != std::string::npos;
    for (std::int64_t i = 0; i < depth; ++i) {
      std::string b = u + "." + group + "." + std::to_string(i);
      s.norm(b + ".norm1", hidden);
      if (cross) s.norm(b + ".norm_context", hidden);
      s.norm(b + ".norm2", hidden);
      s.multihead(b + (cross ? ".cross_attn" : ".attn"), hidden);
      s.linear(b + ".mlp.fc1", 4 * hidden, hidden);
      s.linear(b + ".mlp.fc2", hidden, 4 * hidden);
    }
  }
  s.norm(p + ".fmap_norm", latent);
  s.norm(p + ".ffeat_norm", latent);
  s.linear(p + ".ffeat_updater.0", latent, latent);
  s.linear(p + ".vis_predictor.0", 1, latent);
  s.linear(p + ".conf_predictor.0", 1, latent);
}

}  // namespace

std::vector<vggt_lab::TensorSpec> state_dict_spec(const VggtConfig& c) {
  Spec s;
  const std::int64_t dim_in = 2 * c.embed_dim;
  aggregator(s, c);
  if (c.enable_camera) camera_head(s, c);
  if (c.enable_point) dpt_head(s, "point_head", dim_in, c.dpt_features, c.dpt_out_channels, 4);
  if (c.enable_depth) dpt_head(s, "depth_head", dim_in, c.dpt_features, c.dpt_out_channels, 2);
  if (c.enable_track) {
    dpt_head(s, "track_head.feature_extractor", dim_in, c.track_features, c.track_out_channels,
             0);
    tracker(s, c);
  }
  return s.tensors;
}

}  // namespace vggt_plugin
