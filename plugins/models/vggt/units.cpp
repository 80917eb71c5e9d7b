#include "units.hpp"

#include <vggt_lab/error.hpp>

namespace vggt_plugin {
namespace {

int64_t index_after(const std::string& key, const std::string& prefix) {
  return std::stoll(key.substr(prefix.size()));
}

const torch::Tensor& input(const vggt_lab::TensorMap& inputs, const std::string& name,
                           const std::string& unit) {
  auto it = inputs.find(name);
  if (it == inputs.end()) throw vggt_lab::Error("unit '" + unit + "' needs tensor '" + name + "'");
  return it->second;
}

/// The aggregator layers a head reads, from its inputs.
std::vector<torch::Tensor> layers_from(const vggt_lab::TensorMap& inputs, int64_t depth) {
  std::vector<torch::Tensor> layers(depth);
  for (int64_t i = 0; i < depth; ++i) {
    auto it = inputs.find("layer." + std::to_string(i));
    if (it != inputs.end()) layers[i] = it->second;
  }
  return layers;
}

vggt_lab::TensorMap run_group(Vggt& model, int64_t j, const vggt_lab::TensorMap& inputs,
                              const vggt_lab::InputShape& shape, vggt_lab::FrameGroup* frames) {
  auto& agg = model->aggregator;
  const int64_t B = shape.batch, S = shape.frames, p = agg->options.patch_size;
  const auto& tokens = input(inputs, "tokens." + std::to_string(j), "block." + std::to_string(j));
  auto pos = agg->positions(B, S, shape.height / p, shape.width / p, tokens.device());
  auto [next, layers] = agg->group(j, tokens.flatten(0, 1), pos, B, S, frames);
  vggt_lab::TensorMap out;
  if (j + 1 < agg->groups()) out["tokens." + std::to_string(j + 1)] = next.unflatten(0, {B, S});
  for (std::size_t b = 0; b < layers.size(); ++b) {
    int64_t i = j * agg->options.aa_block_size + int64_t(b);
    if (agg->options.cached_layers.count(i) || i + 1 == agg->options.depth) {
      out["layer." + std::to_string(i)] = layers[b];
    }
  }
  return out;
}

}  // namespace

std::string unit_of(const std::string& key, const VggtConfig& config) {
  static const std::string frame = "aggregator.frame_blocks.", global = "aggregator.global_blocks.";
  const int64_t k = config.aa_block_size;
  if (key.rfind(frame, 0) == 0) return "block." + std::to_string(index_after(key, frame) / k);
  if (key.rfind(global, 0) == 0) return "block." + std::to_string(index_after(key, global) / k);
  if (key.rfind("aggregator.", 0) == 0) return "embed";
  return key.substr(0, key.find('.'));
}

std::vector<std::string> unit_names(const VggtConfig& c) {
  std::vector<std::string> names{"embed"};
  for (int64_t j = 0; j < c.depth / c.aa_block_size; ++j) names.push_back("block." + std::to_string(j));
  if (c.enable_camera) names.push_back("camera_head");
  if (c.enable_depth) names.push_back("depth_head");
  if (c.enable_point) names.push_back("point_head");
  if (c.enable_track) names.push_back("track_head");
  return names;
}

vggt_lab::InputShape shape_of(const vggt_lab::TensorMap& inputs) {
  const auto& images = input(inputs, "images", "the model");
  TORCH_CHECK(images.dim() == 5, "images must be [B, S, 3, H, W], got ", images.sizes());
  auto query = inputs.find("query");
  return {images.size(0), images.size(1), images.size(3), images.size(4),
          query == inputs.end() ? 0 : query->second.size(1)};
}

void set_checkpointing(Vggt& model, const vggt_lab::Checkpointing& checkpointing) {
  static const std::string global = "aggregator.global_blocks.";
  // A module's unit is its parameters' unit.
  auto on = [&](const std::string& module) { return checkpointing.on(unit_of(module + ".", model->config)); };
  for (const auto& item : model->named_modules()) {
    if (auto* block = item.value()->as<BlockImpl>()) {
      const bool wanted = !checkpointing.global_only || item.key().rfind(global, 0) == 0;
      block->checkpointing = on(item.key()) && wanted;
    } else if (auto* head = item.value()->as<DptHeadImpl>()) {
      head->checkpoint_frames = on(item.key()) ? std::max<int64_t>(checkpointing.head_frames, 0) : -1;
    }
  }
}

vggt_lab::TensorMap run_unit(Vggt& model, const std::string& unit, const vggt_lab::TensorMap& inputs,
                             const vggt_lab::InputShape& shape, vggt_lab::FrameGroup* frames) {
  if (unit == "embed") {
    const auto& images = input(inputs, "images", unit);
    return {{"tokens.0", model->aggregator->embed(images, shape.first_frame).unflatten(0, {images.size(0), images.size(1)})}};
  }
  if (unit.rfind("block.", 0) == 0) return run_group(model, index_after(unit, "block."), inputs, shape, frames);
  auto query = inputs.count("query") ? inputs.at("query") : torch::Tensor();
  auto layers = layers_from(inputs, model->config.depth);
  auto names = model->head_names();
  if (std::find(names.begin(), names.end(), unit) == names.end()) {
    throw vggt_lab::Error("the vggt model has no unit '" + unit + "'");
  }
  return model->head(unit, layers, shape.height, shape.width, query);
}

}  // namespace vggt_plugin
