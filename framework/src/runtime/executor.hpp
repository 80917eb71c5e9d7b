#pragma once
// Runs any valid Plan: stages materialised on their logical devices, one
// worker thread per logical device executing its part of the schedule (a
// lone worker runs on the calling thread),
// tensors and gradients between stages through a transport. On the CPU,
// several logical devices share the processor yet keep separate memory
// accounts, workers and transfers, so a layout for 8 GPUs runs on a laptop.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vggt_lab/model.hpp"
#include "vggt_lab/optim.hpp"
#include "vggt_lab/plan.hpp"
#include "vggt_lab/schedule.hpp"

namespace vggt_lab::runtime {

/// Moves tensors between logical devices and counts the bytes.
class VGGT_LAB_API Transport {
 public:
  virtual ~Transport();
  /// Called by the receiving device's worker: the tensor on `to`'s device.
  virtual torch::Tensor receive(const torch::Tensor& tensor, int from, int to) = 0;
};

/// In-process device copies. Logical devices on one physical device still
/// copy, so the receiver's memory and the traffic are what they would be.
class VGGT_LAB_API InProcessTransport : public Transport {
 public:
  explicit InProcessTransport(const Topology& topology);
  torch::Tensor receive(const torch::Tensor& tensor, int from, int to) override;

 private:
  std::vector<torch::Device> devices_;
};

/// Named scalar losses for one micro-batch's predictions of one stage;
/// "loss" is the one backpropagated (a mean over the micro-batch). With a
/// frame group, the predictions and the batch's tensors with frames in
/// dimension 1 hold this device's frames, and the terms are its parts: summed
/// over the group they make the terms of all frames (reduce through the
/// group). A frame-sharded stage's whole units' predictions come alone,
/// with the whole batch and no group.
using LossFn = std::function<TensorMap(const TensorMap& predictions, const TensorMap& batch, FrameGroup* frames)>;

struct DeviceStats {
  // During the step. CPU: the counting allocator's account of this logical
  // device. CUDA: the caching allocator's peak on its GPU, which logical
  // devices sharing that GPU all report (it cannot tell them apart).
  std::int64_t peak_bytes = 0;
  double busy_seconds = 0;
  std::int64_t bytes_sent = 0, bytes_received = 0;
};

struct StepResult {
  std::map<std::string, double> losses;  // summed over heads, weighted over micro-batches
  TensorMap predictions;                 // only when asked for, on the CPU
  double seconds = 0;
  std::vector<DeviceStats> devices;
  std::vector<TimedAction> actions;  // what each device computed when (not waiting for inputs), seconds from the step's start
};

struct RuntimeOptions {
  int intra_op_threads = 0;  // per worker; 0: process_cores() shared among the workers
  std::optional<torch::ScalarType> autocast;  // bf16 or fp16 compute, fp32 weights
  /// Builds another instance of the model, configured as the executor's
  /// (frozen parameters, checkpointing): plans with frame-sharded stages
  /// need one per further device of a frame group.
  std::function<std::shared_ptr<ModelInstance>()> replica;
};

/// For a scope, the calling thread computes as each of `workers` workers
/// sharing process_cores() does in a step: with worker_threads() intra-op
/// threads (LibTorch's BLAS, MKL, follows them).
class VGGT_LAB_API WorkerShare {
 public:
  explicit WorkerShare(int workers);
  ~WorkerShare();
  WorkerShare(const WorkerShare&) = delete;
  WorkerShare& operator=(const WorkerShare&) = delete;

 private:
  int previous_;
};

/// Throws InputError for a plan this runtime cannot run: a frame-sharded
/// stage whose whole unit feeds a frame-wise one or another stage, or with
/// two devices on one GPU (whose one backward thread the group's exchanges
/// would block); the message names what and where.
VGGT_LAB_API void check_runnable(const ModelGraph& graph, const Plan& plan, const Topology& topology);

/// A frame-sharded stage runs on every device of its group: frame-wise
/// units on each device's frames (on a copy of their parameters from
/// options.replica beyond the first device) with each device's part of
/// their loss, whole units and their loss on the first device on inputs
/// gathered there. Each step copies the first device's parameters to the
/// copies first and adds the copies' gradients to its gradients last, so
/// gradient policies see one model with the true gradients; each device's
/// optimizer then steps its share (optimizer_shards). Between stages a
/// tensor travels in pieces of frames (dimension 1), from the devices that
/// hold them to those that need them.
class VGGT_LAB_API Executor {
 public:
  /// `graph` gives the units and edges (any input shape); the plan must pass
  /// check_plan and check_runnable. Moves every unit's parameters and
  /// buffers to its device.
  Executor(std::shared_ptr<ModelInstance> model, ModelGraph graph, Plan plan, Topology topology,
           std::shared_ptr<Transport> transport, RuntimeOptions options = {});
  ~Executor();

  /// One forward and backward of `batch` ("images" [B, ...], and whatever
  /// the loss reads, all with the batch first). Gradients accumulate in the
  /// parameters (on their devices).
  StepResult step(const TensorMap& batch, const LossFn& loss);
  /// Forward only, predictions gathered on the CPU.
  StepResult predict(const TensorMap& batch);

  /// The parameters each device's optimizer steps, from the trainable ones
  /// by stage device: in a frame group, those of the units optimizer_devices
  /// gives another device of the group become that device's copies.
  std::map<int, std::vector<NamedParameter>> optimizer_shards(
      const std::map<int, std::vector<NamedParameter>>& by_stage_device) const;
  /// Around the optimizers' step: the copies they step get their originals'
  /// gradients before it, and the originals the copies' values after it.
  void lend_gradients();
  void take_stepped_parameters();
  /// The parameters whose gradients a step completes after backward: those
  /// with copies on a frame group's devices.
  std::vector<torch::Tensor> completed_after_backward() const;

  const Plan& plan() const { return plan_; }
  const Topology& topology() const { return topology_; }
  ModelInstance& model() { return *model_; }
  torch::Device device_of(int logical) const;

 private:
  struct Impl;
  /// A parameter or buffer of the model and its copy on a frame group's device.
  struct Mirror {
    torch::Tensor original, copy;
    int device = 0, home = 0;  // the copy's device, the original's
    bool steps = false;        // the copy's device's optimizer steps this parameter
  };
  StepResult run(const TensorMap& batch, const LossFn* loss, bool keep_predictions);
  void make_replicas(const std::map<std::string, torch::Tensor>& originals);
  std::set<std::string> frozen_units() const;
  ModelInstance& model_on(int device);
  void sync_replicas();
  void sum_replica_gradients(Impl& impl);
  std::shared_ptr<ModelInstance> model_;
  ModelGraph graph_;
  Plan plan_;
  Topology topology_;
  std::shared_ptr<Transport> transport_;
  RuntimeOptions options_;
  std::map<int, std::shared_ptr<ModelInstance>> replicas_;  // per further device of a frame group
  std::vector<Mirror> mirrors_;
};

/// Splits a batch into at most `parts` micro-batches along dimension 0
/// (fewer when the batch is smaller: never an empty one).
VGGT_LAB_API std::vector<TensorMap> split_batch(const TensorMap& batch, int parts);

/// Drops the parameters' gradients, as a training step starts: the next
/// backward allocates them afresh, and memory meters see them as new.
VGGT_LAB_API void clear_gradients(const std::vector<torch::Tensor>& parameters);

}  // namespace vggt_lab::runtime
