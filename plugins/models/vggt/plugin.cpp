// The `vggt` model plugin: the official architecture at any size, its exact
// state dict, and its graph of placeable units with analytic costs.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <vggt_lab/model.hpp>
#include <vggt_lab/plugin.hpp>
#include <vggt_lab/state_dict.hpp>

#include "config.hpp"
#include "state_dict_spec.hpp"
#include "units.hpp"

namespace vggt_plugin {
namespace {

struct Weights {
  std::string file;  // empty: the official initialisation
  bool strict = true;
};


class VggtInstance : public vggt_lab::ModelInstance {
 public:
  explicit VggtInstance(const VggtConfig& config) : model_(config) {}

  torch::nn::Module& module() override { return *model_; }

  vggt_lab::TensorMap forward(const vggt_lab::TensorMap& inputs) override {
    auto query = inputs.find("query");
    return model_->forward(inputs.at("images"), query == inputs.end() ? torch::Tensor() : query->second);
  }

  using vggt_lab::ModelInstance::run_unit;
  vggt_lab::TensorMap run_unit(const std::string& unit, const vggt_lab::TensorMap& inputs,
                               const vggt_lab::InputShape& shape, vggt_lab::FrameGroup* frames) override {
    return vggt_plugin::run_unit(model_, unit, inputs, shape, frames);
  }

  std::vector<std::string> unit_tensors(const std::string& unit) override {
    std::vector<std::string> names;
    for (const auto& item : model_->named_parameters()) {
      if (unit_of(item.key(), model_->config) == unit) names.push_back(item.key());
    }
    for (const auto& item : model_->named_buffers()) {
      if (unit_of(item.key(), model_->config) == unit) names.push_back(item.key());
    }
    return names;
  }

  void set_checkpointing(const vggt_lab::Checkpointing& checkpointing) override {
    vggt_plugin::set_checkpointing(model_, checkpointing);
  }

 private:
  Vggt model_;
};

class VggtModel : public vggt_lab::Model {
 public:
  VggtModel(VggtConfig config, Weights weights, std::shared_ptr<spdlog::logger> logger)
      : config_(std::move(config)), weights_(std::move(weights)), logger_(std::move(logger)) {}
  std::vector<vggt_lab::TensorSpec> state_dict_spec() const override {
    return vggt_plugin::state_dict_spec(config_);
  }
  using vggt_lab::Model::graph;
  vggt_lab::ModelGraph graph(const vggt_lab::InputShape& shape,
                             const vggt_lab::Checkpointing& checkpointing) const override {
    return vggt_graph(config_, shape, checkpointing);
  }
  std::string unit_of(const std::string& key) const override {
    return vggt_plugin::unit_of(key, config_);
  }
  std::shared_ptr<vggt_lab::ModelInstance> build() const override {
    auto instance = std::make_shared<VggtInstance>(config_);
    if (!weights_.file.empty()) {
      vggt_lab::LoadReport report;
      try {
        report = vggt_lab::load_state_dict(instance->module(), vggt_lab::load_state_dict_file(weights_.file),
                                           weights_.strict, weights_.file);
      } catch (const vggt_lab::InputError& e) {
        throw vggt_lab::InputError(std::string(e.what()) + ", or set [model] strict = false to load the tensors that match");
      }
      if (logger_) logger_->info("[model] weights from {}: {}", weights_.file, report.summary());
    }
    return instance;
  }

 private:
  VggtConfig config_;
  Weights weights_;
  std::shared_ptr<spdlog::logger> logger_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "vggt";
  info.version = "0.2";
  info.summary = "VGGT (CVPR 2025) at any size, state-dict compatible with the official model";
  info.doc =
      "The Visual Geometry Grounded Transformer: a DINOv2 patch embedder, alternating\n"
      "frame/global attention blocks, and camera, depth, point and track heads. Presets:\n"
      "1b (the released 1,256,537,516-parameter model), small and tiny; any size knob may\n"
      "override its preset. Units for placement: embed, block.<i> (frame + global block i),\n"
      "camera_head, depth_head, point_head, track_head. `vggt-lab model keys --preset 1b`\n"
      "lists the state dict.";
  add_options(info.schema);
  info.schema
      .string("weights", "",
              "Initial weights: an official model.pt, a training checkpoint with a `model` entry, "
              "or model.safetensors; relative to the file that names it. Empty: official init")
      .as_path()
      .boolean("strict", true,
               "Weights must match the model exactly (missing, unexpected or mis-shaped keys are "
               "errors); false loads what matches and logs the rest");
  registrar.add<vggt_lab::Model>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext& context) {
        return std::make_unique<VggtModel>(make_config(options), Weights{options.get<std::string>("weights"), options.get<bool>("strict")},
                                           context.logger);
      });
}

}  // namespace
}  // namespace vggt_plugin

VGGT_LAB_PLUGIN("model", "vggt", "0.2", vggt_plugin::register_plugins)
