#pragma once
// Optimizers and gradient policies. The trainer keeps one optimizer state per
// logical device, so optimizer state lives on its parameters' device; a
// gradient policy sees every trainable parameter, wherever it lives, and may
// clip, scale or veto the step.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "vggt_lab/export.hpp"
#include "vggt_lab/kind.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab {

struct NamedParameter {
  std::string name;     // the state-dict key
  torch::Tensor tensor; // on its device; .grad() after backward
};

/// The optimizer state over one group of parameters.
class VGGT_LAB_API OptimizerState {
 public:
  virtual ~OptimizerState();
  /// One update with this base learning rate (parameters without a gradient
  /// are left alone).
  virtual void step(double learning_rate) = 0;
  /// Tensors named "<parameter>.<state>", e.g. "camera_head.embed_pose.weight.exp_avg".
  virtual NamedTensors state() const = 0;
  virtual void load_state(const NamedTensors& tensors) = 0;
};

class VGGT_LAB_API Optimizer {
 public:
  static constexpr Kind kKind = Kind::optimizer;
  virtual ~Optimizer();
  /// Optimizer state bytes per parameter byte, for memory planning.
  virtual double state_factor() const = 0;
  /// The schedule: learning rate at progress in [0, 1] of the run.
  virtual double learning_rate(double progress) const = 0;
  virtual std::unique_ptr<OptimizerState> create(std::vector<NamedParameter> parameters) const = 0;
};

struct PolicyDecision {
  bool skip = false;                     // veto this step
  std::string reason;                    // why, for the log
  std::map<std::string, double> norms;   // per group, before clipping
};

class VGGT_LAB_API GradientPolicy {
 public:
  static constexpr Kind kKind = Kind::gradient;
  virtual ~GradientPolicy();
  /// Sees every trainable parameter with its gradient; may modify gradients
  /// in place. Bad configuration (e.g. a parameter no group covers) throws
  /// InputError naming it.
  virtual PolicyDecision apply(const std::vector<NamedParameter>& parameters) const = 0;
};

/// Total p-norm of the gradients of these parameters across devices
/// (p = inf: the largest magnitude), computed in float64 on the CPU.
VGGT_LAB_API double gradient_norm(const std::vector<NamedParameter>& parameters, double p);
/// Scales the gradients by max_norm / (norm + 1e-6) when that is below 1.
VGGT_LAB_API void clip_gradients(const std::vector<NamedParameter>& parameters, double norm, double max_norm);

}  // namespace vggt_lab
