// A well-formed plugin: one placement with an option.
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class Good : public vggt_lab::Placement {
 public:
  explicit Good(int device) : device_(device) {}
  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    vggt_lab::Plan plan;
    plan.strategy = "test-good";
    plan.stages.push_back(vggt_lab::whole_model(problem.graph, device_));
    return plan;
  }

 private:
  int device_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "test-good";
  info.version = "0.1";
  info.summary = "test plugin";
  info.schema.integer("device", 0, "device", 0.0, 7.0);
  registrar.add<vggt_lab::Placement>(std::move(info), [](const vggt_lab::Options& options,
                                                         const vggt_lab::PluginContext&) {
    return std::make_unique<Good>(static_cast<int>(options.get<std::int64_t>("device")));
  });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "test-good", "0.1", register_plugins)
