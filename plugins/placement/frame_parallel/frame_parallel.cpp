// `frame-parallel`: every unit on a group of logical devices that share each
// scene's frames (context parallelism, specialised to VGGT's alternating
// attention). Frame-wise units compute their own frames; global attention
// gathers the group's keys and values; whole units (the camera head, the
// tracker) run on the group's first device on inputs gathered there.
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class FrameParallel : public vggt_lab::Placement {
 public:
  explicit FrameParallel(int devices) : devices_(devices) {}

  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    const int count = static_cast<int>(problem.topology.devices.size());
    if (devices_ > count) {
      throw vggt_lab::InputError("[placement] devices = " + std::to_string(devices_) + ", but there are " +
                                 std::to_string(count) + " logical device(s); raise [devices] count or lower it");
    }
    vggt_lab::Plan plan;
    plan.strategy = "frame-parallel";
    plan.stages.push_back(vggt_lab::whole_model(problem.graph, 0));
    for (int d = 1; d < (devices_ > 0 ? devices_ : count); ++d) plan.stages[0].frame_group.push_back(d);
    return plan;
  }

 private:
  int devices_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "frame-parallel";
  info.version = "1.0";
  info.summary = "Each scene's frames sharded over a group of devices, every unit on each";
  info.doc =
      "One stage on logical devices 0..devices-1 that split each scene's frames into\n"
      "contiguous shards (uneven when the frames do not divide; a device may get none).\n"
      "Each device holds a copy of the frame-wise units' parameters and gradients, its\n"
      "shard's activations and its part of the losses; global attention gathers every\n"
      "frame's keys and values; the camera head and tracker run on device 0. The optimizer\n"
      "state is spread over the devices: each steps the frame-wise units it is given.";
  info.schema.integer("devices", 0, "Logical devices in the group (0: all of them)", 0.0);
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<FrameParallel>(static_cast<int>(options.get<std::int64_t>("devices")));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "frame-parallel", "1.0", register_plugins)
