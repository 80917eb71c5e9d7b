// `per-head`: the aggregator on one device and each head on the device the
// experiment names, as the seed's device map did. Heads on different devices
// run concurrently: each is its own stage fed by the aggregator's layers. A
// head may shard its frames over a group of devices (head_group_size).
#include <set>
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

const char* const kHeads[] = {"camera_head", "depth_head", "point_head", "track_head"};

class PerHead : public vggt_lab::Placement {
 public:
  PerHead(std::map<std::string, int> devices, int group_size) : devices_(std::move(devices)), group_size_(group_size) {}

  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    const int count = static_cast<int>(problem.topology.devices.size());
    for (const auto& [name, device] : devices_) {
      if (device >= count) {
        throw vggt_lab::InputError("[placement] " + name + " = " + std::to_string(device) +
                                   ", but there are " + std::to_string(count) +
                                   " logical device(s) (0.." + std::to_string(count - 1) +
                                   "); raise [devices] count or choose another device");
      }
      if (name != "aggregator" && device >= 0 && device + group_size_ > count) {
        throw vggt_lab::InputError("[placement] " + name + " = " + std::to_string(device) + " with head_group_size = " +
                                   std::to_string(group_size_) + " needs devices " + std::to_string(device) + ".." +
                                   std::to_string(device + group_size_ - 1) + ", but there are " +
                                   std::to_string(count) + "; raise [devices] count or lower head_group_size");
      }
    }
    std::set<std::string> producers;
    for (const auto& edge : problem.graph.edges) producers.insert(edge.from);
    const int aggregator = devices_.at("aggregator");
    vggt_lab::Plan plan;
    plan.strategy = "per-head";
    plan.stages.push_back({aggregator, {}});
    for (const auto& unit : problem.graph.units) {
      bool head = !producers.count(unit.name);
      if (!head) {
        plan.stages[0].units.push_back(unit.name);
        continue;
      }
      auto it = devices_.find(unit.name);
      if (it == devices_.end() || it->second < 0) {
        plan.stages.push_back({aggregator, {unit.name}, {}});
        continue;
      }
      vggt_lab::Stage stage{it->second, {unit.name}, {}};
      for (int k = 1; k < group_size_; ++k) stage.frame_group.push_back(it->second + k);
      plan.stages.push_back(std::move(stage));
    }
    return plan;
  }

 private:
  std::map<std::string, int> devices_;
  int group_size_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "per-head";
  info.version = "1.0";
  info.summary = "The aggregator on one device, each head on the device you name";
  info.doc =
      "The seed's device map: the patch embedder and every aggregator block on `aggregator`,\n"
      "and each head on its own device (-1: with the aggregator). Heads on different devices\n"
      "run concurrently once the aggregator's layers reach them; the DPT heads' four skip\n"
      "tensors cross devices and are charged as receive buffers. With head_group_size = g, a\n"
      "head on device d shards each scene's frames over devices d..d+g-1.";
  info.schema.integer("aggregator", 0, "Logical device of the patch embedder and aggregator", 0.0);
  for (const char* head : kHeads) {
    info.schema.integer(head, -1, std::string("Logical device of the ") + head + " (-1: the aggregator's)",
                        -1.0);
  }
  info.schema.integer("head_group_size", 1,
                      "Devices each head placed on its own device shards its frames over, from that device on", 1.0);
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        std::map<std::string, int> devices{{"aggregator", int(options.get<std::int64_t>("aggregator"))}};
        for (const char* head : kHeads) devices[head] = int(options.get<std::int64_t>(head));
        return std::make_unique<PerHead>(std::move(devices), int(options.get<std::int64_t>("head_group_size")));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "per-head", "1.0", register_plugins)
