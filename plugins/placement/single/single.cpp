// `single`: every unit on one logical device, in graph order. The reference
// every other strategy is checked against.
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class Single : public vggt_lab::Placement {
 public:
  explicit Single(int device) : device_(device) {}

  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    const auto& topology = problem.topology;
    if (device_ >= static_cast<int>(topology.devices.size())) {
      throw vggt_lab::InputError("[placement] device = " + std::to_string(device_) +
                                 ", but there are " + std::to_string(topology.devices.size()) +
                                 " logical device(s); set [devices] count or device");
    }
    vggt_lab::Plan plan;
    plan.strategy = "single";
    plan.stages.push_back(vggt_lab::whole_model(problem.graph, device_));
    return plan;
  }

 private:
  int device_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "single";
  info.version = "1.0";
  info.summary = "Everything on one logical device: the reference for every other layout";
  info.doc =
      "Places every unit of the model graph on one logical device, in graph order, as one\n"
      "stage with one micro-batch. Every other strategy's loss and gradients are tested\n"
      "against this one.";
  info.schema.integer("device", 0, "Logical device that holds the whole model", 0.0);
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<Single>(static_cast<int>(options.get<std::int64_t>("device")));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "single", "1.0", register_plugins)
