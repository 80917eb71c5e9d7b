// Each unit on the next device in turn (a deliberately naive layout).
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class RoundRobin : public vggt_lab::Placement {
 public:
  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    const auto& graph = problem.graph;
    const auto& topology = problem.topology;
    vggt_lab::Plan plan;
    plan.strategy = "round-robin";
    for (std::size_t i = 0; i < graph.units.size(); ++i) {
      int device = static_cast<int>(i % topology.devices.size());
      plan.stages.push_back({device, {graph.units[i].name}});
    }
    return plan;
  }
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "round-robin";
  info.version = "0.1";
  info.summary = "One unit per stage, devices in turn";
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options&, const vggt_lab::PluginContext&) {
        return std::make_unique<RoundRobin>();
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "round-robin", "0.1", register_plugins)
