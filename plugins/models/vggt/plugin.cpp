// The `vggt` model plugin. Today it knows the exact state dict of any
// configuration without allocating it; the LibTorch modules, the unit graph
// and its costs come with issue #3.
#include <vggt_lab/model.hpp>
#include <vggt_lab/plugin.hpp>

#include "config.hpp"
#include "state_dict_spec.hpp"

namespace vggt_plugin {
namespace {

class Vggt : public vggt_lab::Model {
 public:
  explicit Vggt(VggtConfig config) : config_(std::move(config)) {}
  std::vector<vggt_lab::TensorSpec> state_dict_spec() const override {
    return vggt_plugin::state_dict_spec(config_);
  }

 private:
  VggtConfig config_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "vggt";
  info.version = "0.1";
  info.summary = "VGGT (CVPR 2025) at any size, state-dict compatible with the official model";
  info.doc =
      "The Visual Geometry Grounded Transformer: a DINOv2 patch embedder, alternating\n"
      "frame/global attention blocks, and camera, depth, point and track heads. Presets:\n"
      "1b (the released 1,256,537,516-parameter model), small and tiny; any size knob may\n"
      "override its preset. `vggt-lab model keys --preset 1b` lists the state dict.";
  add_options(info.schema);
  registrar.add<vggt_lab::Model>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<Vggt>(make_config(options));
      });
}

}  // namespace
}  // namespace vggt_plugin

VGGT_LAB_PLUGIN("model", "vggt", "0.1", vggt_plugin::register_plugins)
