// Analytic costs of VGGT's units for a given input shape, so the 1B model can
// be planned without allocating it. Activation estimates count the tensors
// autograd keeps for backward in fp32 (4 bytes): ~25 T·C per transformer
// block of T tokens and width C (norm inputs/outputs, qkv, normalised and
// rotated q/k, attention output, MLP hidden before and after GELU, ...),
// plus the attention probabilities when no fused kernel is used; DPT heads
// count their feature maps level by level. `vggt-lab bench placement`
// compares these with measured peaks.
#include "state_dict_spec.hpp"
#include "units.hpp"

namespace vggt_plugin {
namespace {

constexpr double kBytes = 4.0;            // fp32
constexpr double kSavedPerToken = 25.0;   // tensors of width C kept per block and token

/// Elements (and flops) of one unit: everything kept for backward, and what
/// it keeps and recomputes under its checkpointing.
struct Cost {
  double activations = 0, attention = 0, flops = 0;  // without checkpointing
  double kept = 0, kept_attention = 0;               // under the unit's checkpointing
  double recompute = 0, recompute_attention = 0;     // the largest piece recomputed at once
  double recompute_flops = 0;
  double gathered = 0, checkpoint_gathered = 0;     // keys and values of all frames, under frame parallelism

  /// A transformer block: `sequences` attention sequences of `n` tokens. A
  /// checkpointed block keeps only its input.
  void block(double sequences, double n, double dim, double heads, double mlp_ratio, bool checkpointed) {
    const double tokens = sequences * n;
    const double saved = kSavedPerToken * tokens * dim + sequences * heads * n;  // + softmax stats
    const double probabilities = sequences * heads * n * n;
    const double block_flops = 2.0 * tokens * (4.0 + 2.0 * mlp_ratio) * dim * dim + 4.0 * sequences * n * n * dim;
    activations += saved;
    attention += probabilities;
    flops += block_flops;
    if (checkpointed) {
      kept += tokens * dim;
      recompute = std::max(recompute, saved);
      recompute_attention = std::max(recompute_attention, probabilities);
      recompute_flops += block_flops;
    } else {
      kept += saved;
      kept_attention += probabilities;
    }
  }
  /// A convolution producing `out` channels on an h x w map.
  void conv(double frames, double in, double out, double kernel, double h, double w) {
    map(frames, out, h, w);
    flops += 2.0 * frames * in * out * kernel * kernel * h * w;
  }
  void map(double frames, double channels, double h, double w) {
    activations += frames * channels * h * w;
    kept += frames * channels * h * w;
  }
  /// `piece` (checkpointing nothing itself) recomputed in backward a
  /// `fraction` of it at a time: it keeps only `inputs` elements.
  void recomputed(const Cost& piece, double fraction, double inputs) {
    activations += piece.activations;
    attention += piece.attention;
    flops += piece.flops;
    kept += inputs;
    recompute = std::max(recompute, piece.activations * fraction);
    recompute_attention = std::max(recompute_attention, piece.attention * fraction);
    recompute_flops += piece.flops;
  }
};

/// A DPT head over `frames` frames; `final_h` x `final_w` is its output size.
void dpt(Cost& cost, const DptHeadOptions& o, double frames, double h, double w, double final_h,
         double final_w) {
  const double F = o.features;
  const auto& oc = o.out_channels;
  const double sizes[4][2] = {{4 * h, 4 * w}, {2 * h, 2 * w}, {h, w}, {std::ceil(h / 2), std::ceil(w / 2)}};
  for (int k = 0; k < 4; ++k) {
    cost.map(frames, 2.0 * o.dim_in, h, w);  // norm input and output
    cost.conv(frames, o.dim_in, oc[k], 1, h, w);
    if (k != 2) cost.conv(frames, oc[k], oc[k], k == 3 ? 3 : 1, sizes[k][0], sizes[k][1]);
    cost.conv(frames, oc[k], F, 3, sizes[k][0], sizes[k][1]);
  }
  for (int r = 3; r >= 0; --r) {  // refinenet4 .. refinenet1
    int units = r == 3 ? 1 : 2;
    for (int u = 0; u < units; ++u) {
      cost.map(frames, 2 * F, sizes[r][0], sizes[r][1]);  // relu(x), relu(conv1)
      cost.conv(frames, F, F, 3, sizes[r][0], sizes[r][1]);
      cost.conv(frames, F, F, 3, sizes[r][0], sizes[r][1]);
    }
    double up_h = r == 0 ? 8 * h : sizes[r - 1][0], up_w = r == 0 ? 8 * w : sizes[r - 1][1];
    cost.map(frames, F, up_h, up_w);  // interpolation
    cost.conv(frames, F, F, 1, up_h, up_w);
  }
  double out1 = o.output_dim == 0 ? F : F / 2;
  cost.conv(frames, F, out1, 3, 8 * h, 8 * w);
  cost.map(frames, out1, final_h, final_w);  // resize to the output size
  if (o.output_dim == 0) return;
  cost.conv(frames, out1, 32, 3, final_h, final_w);
  cost.map(frames, 32, final_h, final_w);  // ReLU
  cost.conv(frames, 32, o.output_dim, 1, final_h, final_w);
  cost.map(frames, o.output_dim, final_h, final_w);  // activations of depth / points / confidence
}

void tracker(Cost& cost, const TrackerOptions& o, double B, double S, double Q, double fh, double fw) {
  if (Q <= 0) return;
  const double L = o.latent_dim, hidden = o.hidden_size, V = o.num_virtual_tracks;
  for (int64_t it = 0; it < o.iterations; ++it) {
    double level_h = fh, level_w = fw;
    for (int64_t l = 0; l < o.corr_levels; ++l) {  // correlation volumes kept by grid_sample
      cost.map(B * S * Q, 1, level_h, level_w);
      cost.flops += 2.0 * B * S * Q * L * level_h * level_w;
      level_h = std::floor(level_h / 2);
      level_w = std::floor(level_w / 2);
    }
    for (int64_t d = 0; d < o.depth; ++d) {
      cost.block(B * (Q + V), S, hidden, o.num_heads, 4.0, false);  // time
      cost.block(B * S, V, hidden, o.num_heads, 4.0, false);        // virtual self-attention
      cost.block(B * S, V, hidden, o.num_heads, 4.0, false);        // virtual <- points (approx.)
      cost.block(B * S, Q, hidden, o.num_heads, 4.0, false);        // points <- virtual (approx.)
    }
  }
}

std::map<std::string, double> parameters_per_unit(const VggtConfig& config) {
  std::map<std::string, double> params;
  for (const auto& t : state_dict_spec(config)) params[unit_of(t.name, config)] += double(vggt_lab::numel(t));
  return params;
}

/// A DPT head over B x S frames, recomputed `frames` at a time when
/// checkpointed (0: all at once); it then keeps only its four input layers.
Cost dpt_head(const DptHeadOptions& o, double B, double S, double h, double w, double final_h, double final_w,
              bool checkpointed, double frames) {
  Cost head, cost;
  dpt(head, o, B * S, h, w, final_h, final_w);
  if (!checkpointed) return head;
  const double fraction = frames > 0 ? std::min(frames, S) / S : 1.0;
  cost.recomputed(head, fraction, 4.0 * B * S * o.dim_in * h * w);
  return cost;
}

/// Everything works frame by frame but the global attention, which attends
/// over all frames, the camera head's trunk (attention across frames) and the
/// tracker (correlations across frames).
vggt_lab::FrameSplit frame_split(const std::string& unit) {
  if (unit.rfind("block.", 0) == 0) return vggt_lab::FrameSplit::global;
  if (unit == "camera_head" || unit == "track_head") return vggt_lab::FrameSplit::whole;
  return vggt_lab::FrameSplit::local;
}

}  // namespace

vggt_lab::ModelGraph vggt_graph(const VggtConfig& c, const vggt_lab::InputShape& shape,
                                const vggt_lab::Checkpointing& checkpointing) {
  const double B = shape.batch, S = shape.frames, H = shape.height, W = shape.width, Q = shape.queries;
  const double h = double(shape.height / c.patch_size), w = double(shape.width / c.patch_size);
  const double C = c.embed_dim, P = 1 + c.num_register_tokens + h * w, T = B * S * P;
  const bool global_only = checkpointing.global_only;
  auto on = [&](const std::string& unit) { return checkpointing.on(unit); };
  const double frames = double(checkpointing.head_frames);
  std::map<std::string, Cost> costs;

  Cost& embed = costs["embed"];
  embed.map(B * S, 3, H, W);
  embed.conv(B * S, 3, C, c.patch_size, h, w);
  if (c.patch_embed != "conv") {
    DinoShape dino = dino_shape(c.patch_embed);
    int64_t depth = c.dino_depth > 0 ? c.dino_depth : dino.depth;
    int64_t heads = c.dino_num_heads > 0 ? c.dino_num_heads : dino.num_heads;
    double n = 1 + c.num_register_tokens + h * w;
    for (int64_t i = 0; i < depth; ++i) embed.block(B * S, n, C, double(heads), 4.0, on("embed") && !global_only);
  }
  const int64_t k = c.aa_block_size, groups = c.depth / k;
  for (int64_t j = 0; j < groups; ++j) {
    const std::string name = "block." + std::to_string(j);
    Cost& group = costs[name];
    for (int64_t b = 0; b < k; ++b) {
      group.block(B * S, P, C, c.num_heads, c.mlp_ratio, on(name) && !global_only);  // frame attention
      group.block(B, S * P, C, c.num_heads, c.mlp_ratio, on(name));                  // global attention
      const double keys_and_values = 2.0 * T * C;
      if (on(name)) {
        group.checkpoint_gathered = keys_and_values;
      } else {
        group.gathered += keys_and_values;
      }
    }
  }
  if (c.enable_camera) {
    Cost& camera = costs["camera_head"];
    for (int it = 0; it < 4; ++it) {
      for (int64_t d = 0; d < c.camera_trunk_depth; ++d) {
        camera.block(B, S, 2 * C, c.camera_num_heads, 4.0, on("camera_head") && !global_only);
      }
    }
  }
  // Each head's loss runs on its device and keeps tensors per pixel for
  // backward too: the depth loss's 4-scale gradient term and regression
  // (~14 floats), the point loss's 3-scale normals and regression (~53).
  if (c.enable_depth) {
    costs["depth_head"] = dpt_head(dpt_options(c, 2), B, S, h, w, H, W, on("depth_head"), frames);
    costs["depth_head"].map(B * S, 14, H, W);
  }
  if (c.enable_point) {
    costs["point_head"] = dpt_head(dpt_options(c, 4), B, S, h, w, H, W, on("point_head"), frames);
    costs["point_head"].map(B * S, 53, H, W);
  }
  if (c.enable_track && Q > 0) {
    auto features = track_feature_options(c);
    double fh = h * c.patch_size / 2, fw = w * c.patch_size / 2;
    costs["track_head"] = dpt_head(features, B, S, h, w, fh, fw, on("track_head"), frames);
    tracker(costs["track_head"], tracker_options(c), B, S, Q, fh, fw);
  }

  vggt_lab::ModelGraph graph;
  auto params = parameters_per_unit(c);
  for (const std::string& name : unit_names(c)) {
    const Cost& cost = costs[name];
    vggt_lab::UnitCost unit;
    unit.param_bytes = int64_t(params[name] * kBytes);
    unit.activation_bytes = int64_t(cost.activations * kBytes);
    unit.attention_bytes = int64_t(cost.attention * kBytes);
    unit.checkpoint_bytes = int64_t(cost.kept * kBytes);
    unit.checkpoint_attention_bytes = int64_t(cost.kept_attention * kBytes);
    unit.recompute_bytes = int64_t(cost.recompute * kBytes);
    unit.recompute_attention_bytes = int64_t(cost.recompute_attention * kBytes);
    unit.forward_flops = cost.flops;
    unit.recompute_flops = cost.recompute_flops;
    unit.gathered_bytes = int64_t(cost.gathered * kBytes);
    unit.checkpoint_gathered_bytes = int64_t(cost.checkpoint_gathered * kBytes);
    graph.units.push_back({name, unit, frame_split(name)});
  }
  graph.frames = shape.frames;
  auto edge = [&](std::string tensor, std::string from, std::string to, double elements) {
    graph.edges.push_back({std::move(tensor), std::move(from), std::move(to), int64_t(elements * kBytes)});
  };
  edge("images", "", "embed", B * S * 3 * H * W);
  for (int64_t j = 0; j < groups; ++j) {
    std::string from = j == 0 ? "embed" : "block." + std::to_string(j - 1);
    edge("tokens." + std::to_string(j), from, "block." + std::to_string(j), T * C);
  }
  auto layer_edge = [&](int64_t i, const std::string& head) {
    edge("layer." + std::to_string(i), "block." + std::to_string(i / k), head, T * 2 * C);
  };
  if (c.enable_camera) layer_edge(c.depth - 1, "camera_head");
  std::set<int64_t> dpt_layers(c.dpt_layers.begin(), c.dpt_layers.end());
  for (const char* head : {"depth_head", "point_head", "track_head"}) {
    bool on = std::string(head) == "depth_head" ? c.enable_depth
              : std::string(head) == "point_head" ? c.enable_point
                                                  : c.enable_track;
    if (!on) continue;
    for (int64_t layer : dpt_layers) layer_edge(layer, head);
  }
  if (c.enable_track) edge("query", "", "track_head", B * Q * 2);
  return graph;
}

}  // namespace vggt_plugin
