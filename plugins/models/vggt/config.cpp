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
      .boolean("enable_camera", true, "Build the camera head")
      .boolean("enable_depth", true, "Build the depth head")
      .boolean("enable_point", true, "Build the point head")
      .boolean("enable_track", true, "Build the track head");
}

VggtConfig make_config(const vggt_lab::Options& options) {
  VggtConfig c = preset(options.get<std::string>("preset"));
  auto override_int = [&](const char* key, std::int64_t& field) {
    if (options.get<std::int64_t>(key) > 0) field = options.get<std::int64_t>(key);
  };
  override_int("img_size", c.img_size);
  override_int("patch_size", c.patch_size);
  override_int("embed_dim", c.embed_dim);
  override_int("depth", c.depth);
  override_int("num_heads", c.num_heads);
  if (options.get<double>("mlp_ratio") > 0) c.mlp_ratio = options.get<double>("mlp_ratio");
  if (!options.get<std::string>("patch_embed").empty()) {
    c.patch_embed = options.get<std::string>("patch_embed");
  }
  c.enable_camera = options.get<bool>("enable_camera");
  c.enable_depth = options.get<bool>("enable_depth");
  c.enable_point = options.get<bool>("enable_point");
  c.enable_track = options.get<bool>("enable_track");

  DinoShape dino = dino_shape(c.patch_embed);
  check(dino.embed_dim == 0 || dino.embed_dim == c.embed_dim,
        "patch_embed \"" + c.patch_embed + "\" produces tokens of width " +
            std::to_string(dino.embed_dim) + ", but embed_dim is " + std::to_string(c.embed_dim) +
            "; set embed_dim = " + std::to_string(dino.embed_dim) + " or patch_embed = \"conv\"");
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
