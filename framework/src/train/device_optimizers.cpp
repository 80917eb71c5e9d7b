#include "train/device_optimizers.hpp"

#include "runtime/memory_meter.hpp"

namespace vggt_lab::train {

DeviceOptimizers::DeviceOptimizers(runtime::Executor& executor,
                                   const std::map<int, std::vector<NamedParameter>>& by_stage_device,
                                   const Create& create)
    : executor_(executor) {
  for (auto& [device, params] : executor.optimizer_shards(by_stage_device)) {
    runtime::ScopedDevice attribution(device);
    states_[device] = create(params);
  }
}

void DeviceOptimizers::step(double learning_rate) {
  executor_.lend_gradients();
  for (auto& [device, state] : states_) {
    runtime::ScopedDevice attribution(device);
    state->step(learning_rate);
  }
  executor_.take_stepped_parameters();
}

NamedTensors DeviceOptimizers::state() const {
  NamedTensors out;
  for (const auto& [device, state] : states_) {
    for (auto& item : state->state()) out.push_back(std::move(item));
  }
  return out;
}

void DeviceOptimizers::load_state(const NamedTensors& tensors) {
  for (auto& [device, state] : states_) {
    runtime::ScopedDevice attribution(device);
    state->load_state(tensors);
  }
}

}  // namespace vggt_lab::train
