#include "config.hpp"

#include <map>
#include <vggt_lab/error.hpp>

namespace vggt_plugin {
namespace {

VggtConfig preset(const std::string& name) {
  VggtConfig c;  // the defaults are the released 1B model
  if (name == "small") {
    c.img_size = 224;
    c.embed_dim = 384;
    c.depth = 12;
    c.num_heads = 6;
    c.patch_embed = "dinov2_vits14_reg";
    c.camera_trunk_depth = 2;
    c.camera_num_heads = 6;
    c.dpt_features = 128;
    c.dpt_out_channels = {96, 192, 384, 384};
    c.track_features = 64;
    c.dpt_layers = {2, 5, 8, 11};
    c.track_out_channels = {96, 192, 384, 384};
    c.track_hidden_size = 192;
  } else if (name == "tiny") {
    c.img_size = 56;
    c.embed_dim = 64;
    c.depth = 4;
    c.num_heads = 4;
    c.patch_embed = "conv";
    c.camera_trunk_depth = 1;
    c.camera_num_heads = 4;
    c.dpt_features = 32;
    c.dpt_out_channels = {32, 64, 128, 128};
    c.track_features = 32;
    c.dpt_layers = {0, 1, 2, 3};
    c.track_out_channels = {32, 64, 128, 128};
    c.track_hidden_size = 64;
    c.track_depth = 2;
    c.track_corr_levels = 4;
  }
  return c;
}

const std::map<std::string, DinoShape>& dino_shapes() {
  static const std::map<std::string, DinoShape> shapes = {
      {"dinov2_vits14_reg", {12, 6, 384}},
      {"dinov2_vitb14_reg", {12, 12, 768}},
      {"dinov2_vitl14_reg", {24, 16, 1024}},
      {"dinov2_vitg2_reg", {40, 24, 1536}},
      {"conv", {0, 0, 0}}};
  return shapes;
}

void check(bool ok, const std::string& message) {
  if (!ok) throw vggt_lab::InputError("[model] " + message);
}

}  // namespace

DinoShape dino_shape(const std::string& patch_embed) { return dino_shapes().at(patch_embed); }

std::vector<std::string> preset_names() { return {"1b", "small", "tiny"}; }

std::vector<std::string> patch_embed_names() {
  std::vector<std::string> names;
  for (const auto& [name, shape] : dino_shapes()) names.push_back(name);
  return names;
}

void add_options(vggt_lab::OptionSchema& schema) {
  schema
      .string("preset", "1b",
              "Size preset: 1b (the released model), small (ViT-S backbone), tiny (tests, CPU)",
              preset_names())
      .integer("img_size", 0, "Training image side the position embedding is built for (0: preset)", 0.0)
      .integer("patch_size", 0, "Patch side in pixels (0: preset)", 0.0)
      .integer("embed_dim", 0, "Token width C; DINOv2 backbones fix it (0: preset)", 0.0)
      .integer("depth", 0, "Frame/global block pairs (0: preset)", 0.0)
      .integer("num_heads", 0, "Attention heads of the aggregator blocks (0: preset)", 0.0)
      .number("mlp_ratio", 0.0, "MLP width over C in the aggregator blocks (0: preset)", 0.0)
      .string("patch_embed", "", "Patch embedder: a DINOv2 variant with registers, or conv (empty: preset)")
      .with_check([](const vggt_lab::OptionValue& value) -> std::optional<std::string> {
        const auto& name = std::get<std::string>(value);
        if (name.empty() || dino_shapes().count(name)) return std::nullopt;
        std::string known;
        for (const auto& n : patch_embed_names()) known += (known.empty() ? "" : ", ") + n;
        return "must be one of " + known + ", got \"" + name + "\"";
      })
      .integer("num_register_tokens", 4, "Register tokens per frame (aggregator and DINOv2)", 0.0)
      .boolean("qk_norm", true, "LayerNorm on queries and keys in the aggregator blocks")
      .number("rope_freq", 100.0, "Rotary embedding base frequency; <= 0 turns RoPE off")
      .number("init_values", 0.01, "LayerScale initial value in the aggregator blocks", 0.0)
      .integer("dpt_features", 0, "DPT head feature width (0: preset)", 0.0)
      .integer_list("dpt_out_channels", {}, "DPT per-level channels, 4 values (empty: preset)", 1.0)
      .integer_list("dpt_layers", {}, "Aggregator layers the DPT heads read, 4 values (empty: preset)", 0.0)
      .integer("camera_trunk_depth", 0, "Camera head trunk blocks (0: preset)", 0.0)
      .integer("camera_num_heads", 0, "Camera head attention heads (0: preset)", 0.0)
      .integer("track_features", 0, "Track head feature width / tracker latent (0: preset)", 0.0)
      .integer("track_hidden_size", 0, "Tracker transformer width (0: preset)", 0.0)
      .integer("track_depth", 0, "Tracker transformer layers (0: preset)", 0.0)
      .integer("track_corr_levels", 0, "Correlation pyramid levels (0: preset)", 0.0)
      .string_list("aa_order", {"frame", "global"},
                   "Order of the attention types within each group", {"frame", "global"})
      .integer("aa_block_size", 1, "Blocks of one attention type before switching", 1.0)
      .boolean("enable_camera", true, "Build the camera head")
      .boolean("enable_depth", true, "Build the depth head")
      .boolean("enable_point", true, "Build the point head")
      .boolean("enable_track", true, "Build the track head")
      .integer("frames_chunk_size", 8,
               "Frames a DPT head runs at once (upstream's frames_chunk_size: the same math, rounded "
               "differently; [train] head_checkpoint_frames sets it while training)",
               1.0);
}

VggtConfig make_config(const vggt_lab::Options& options) {
  VggtConfig c = preset(options.get<std::string>("preset"));
  static const std::pair<const char*, std::int64_t VggtConfig::*> kSizes[] = {
      {"img_size", &VggtConfig::img_size},
      {"patch_size", &VggtConfig::patch_size},
      {"embed_dim", &VggtConfig::embed_dim},
      {"depth", &VggtConfig::depth},
      {"num_heads", &VggtConfig::num_heads},
      {"dpt_features", &VggtConfig::dpt_features},
      {"camera_trunk_depth", &VggtConfig::camera_trunk_depth},
      {"camera_num_heads", &VggtConfig::camera_num_heads},
      {"track_features", &VggtConfig::track_features},
      {"track_hidden_size", &VggtConfig::track_hidden_size},
      {"track_depth", &VggtConfig::track_depth},
      {"track_corr_levels", &VggtConfig::track_corr_levels}};
  for (const auto& [key, field] : kSizes) {  // 0 keeps the preset's value
    if (options.get<std::int64_t>(key) > 0) c.*field = options.get<std::int64_t>(key);
  }
  if (options.get<double>("mlp_ratio") > 0) c.mlp_ratio = options.get<double>("mlp_ratio");
  if (!options.get<std::string>("patch_embed").empty()) {
    c.patch_embed = options.get<std::string>("patch_embed");
  }
  c.enable_camera = options.get<bool>("enable_camera");
  c.enable_depth = options.get<bool>("enable_depth");
  c.enable_point = options.get<bool>("enable_point");
  c.enable_track = options.get<bool>("enable_track");
  c.frames_chunk_size = options.get<std::int64_t>("frames_chunk_size");
  auto override_list = [&](const char* key, std::vector<std::int64_t>& field) {
    const auto& value = options.get<std::vector<std::int64_t>>(key);
    if (value.empty()) return;
    check(value.size() == 4, std::string(key) + " needs 4 values, got " + std::to_string(value.size()));
    field = value;
  };
  override_list("dpt_out_channels", c.dpt_out_channels);
  override_list("dpt_layers", c.dpt_layers);
  c.num_register_tokens = options.get<std::int64_t>("num_register_tokens");
  c.qk_norm = options.get<bool>("qk_norm");
  c.rope_freq = options.get<double>("rope_freq");
  c.init_values = options.get<double>("init_values");
  c.aa_order = options.get<std::vector<std::string>>("aa_order");
  c.aa_block_size = options.get<std::int64_t>("aa_block_size");

  DinoShape dino = dino_shape(c.patch_embed);
  check(dino.embed_dim == 0 || dino.embed_dim == c.embed_dim,
        "patch_embed \"" + c.patch_embed + "\" produces tokens of width " +
            std::to_string(dino.embed_dim) + ", but embed_dim is " + std::to_string(c.embed_dim) +
            "; set embed_dim = " + std::to_string(dino.embed_dim) + " or patch_embed = \"conv\"");
  check(c.aa_order.size() == 2 && c.aa_order[0] != c.aa_order[1],
        "aa_order must name \"frame\" and \"global\" once each");
  check(c.depth % c.aa_block_size == 0, "depth (" + std::to_string(c.depth) +
                                            ") must be divisible by aa_block_size (" +
                                            std::to_string(c.aa_block_size) + ")");
  check(c.track_features % 4 == 0, "track_features must be a multiple of 4, got " +
                                       std::to_string(c.track_features));
  check(c.track_hidden_size % 8 == 0, "track_hidden_size must be a multiple of the tracker's 8 heads, got " +
                                          std::to_string(c.track_hidden_size));
  check((2 * c.embed_dim) % c.camera_num_heads == 0,
        "the camera head's width 2 x embed_dim must be divisible by camera_num_heads");
  check(c.embed_dim % c.num_heads == 0,
        "embed_dim (" + std::to_string(c.embed_dim) + ") must be divisible by num_heads (" +
            std::to_string(c.num_heads) + ")");
  for (int64_t layer : c.dpt_layers) {
    check(layer >= 0 && layer < c.depth,
          "the DPT heads read aggregator layer " + std::to_string(layer) + ", but depth is " +
              std::to_string(c.depth) + "; raise depth or pick another preset");
  }
  check(c.img_size % c.patch_size == 0, "img_size (" + std::to_string(c.img_size) +
                                            ") must be a multiple of patch_size (" +
                                            std::to_string(c.patch_size) + ")");
  return c;
}

}  // namespace vggt_plugin
