#pragma once
// One optimizer state per logical device, over the parameters the runtime
// gives it (a frame group's devices each step their share), each allocated
// and stepped under its device's memory account.
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "runtime/executor.hpp"
#include "vggt_lab/optim.hpp"

namespace vggt_lab::train {

class VGGT_LAB_API DeviceOptimizers {
 public:
  using Create = std::function<std::unique_ptr<OptimizerState>(std::vector<NamedParameter>)>;
  /// `by_stage_device`: the trainable parameters by their stage's device
  /// (parameters_by_device).
  DeviceOptimizers(runtime::Executor& executor, const std::map<int, std::vector<NamedParameter>>& by_stage_device,
                   const Create& create);
  /// One update: the copies get their originals' gradients, each device's
  /// state steps, the originals get the stepped values.
  void step(double learning_rate);
  NamedTensors state() const;
  void load_state(const NamedTensors& tensors);

 private:
  runtime::Executor& executor_;
  std::map<int, std::unique_ptr<OptimizerState>> states_;
};

}  // namespace vggt_lab::train
