#pragma once
// The model interface. A Model describes itself without allocating anything
// (state-dict names and shapes, a graph of placeable units with costs) and
// builds ModelInstances: LibTorch modules whose parameter names are the
// official state-dict keys, runnable whole or one unit at a time.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "vggt_lab/export.hpp"
#include "vggt_lab/graph.hpp"
#include "vggt_lab/kind.hpp"

namespace vggt_lab {

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

VGGT_LAB_API std::int64_t numel(const TensorSpec& tensor);
/// "[1, 2, 1, 1024]", as the official key list writes shapes.
VGGT_LAB_API std::string shape_text(const std::vector<std::int64_t>& shape);

/// What one step feeds the model: B scenes of S frames of H x W pixels, and
/// Q query points per scene for tracking (0: no tracking). A frame-wise unit
/// of a frame-sharded stage sees its device's S frames, the first of them
/// frame `first_frame` of the scene.
struct InputShape {
  std::int64_t batch = 1;
  std::int64_t frames = 1;
  std::int64_t height = 518;
  std::int64_t width = 518;
  std::int64_t queries = 0;
  std::int64_t first_frame = 0;
};

using TensorMap = std::map<std::string, torch::Tensor>;

/// The runtime's service to the frame-wise units of a frame-sharded stage
/// (FrameSplit::local and global), one per device and micro-batch; it lives
/// until the step's backward is done. Each device holds a contiguous shard
/// of every scene's frames, the devices in frame order.
class VGGT_LAB_API FrameGroup {
 public:
  virtual ~FrameGroup();
  /// Every device's `local` concatenated along `dim` in frame order (all
  /// other dimensions equal). Differentiable: each device's part of the
  /// gradient, summed over the group, returns to it. Every device of the
  /// group must make the same calls in the same order, in forward and in
  /// recomputation.
  virtual torch::Tensor all_gather(const torch::Tensor& local, std::int64_t dim) = 0;
};

class VGGT_LAB_API ModelInstance {
 public:
  virtual ~ModelInstance();
  /// The module tree; named_parameters() are the official state-dict keys.
  virtual torch::nn::Module& module() = 0;
  /// inputs "images" [B, S, 3, H, W] in [0, 1], optional "query" [B, Q, 2]
  /// -> predictions by name.
  virtual TensorMap forward(const TensorMap& inputs) = 0;
  /// Runs one unit of the graph on inputs of `shape`: `inputs` holds the
  /// tensors its incoming edges name (model inputs included); it returns the
  /// tensors its outgoing edges name, and a head also returns its predictions.
  /// `frames` is set when a frame-wise unit runs on a shard of the frames
  /// (global units gather through it), null otherwise. Under frame
  /// parallelism, the edge tensors and the model inputs that frame-wise
  /// units read, and the predictions they return, have frames in dimension 1.
  virtual TensorMap run_unit(const std::string& unit, const TensorMap& inputs, const InputShape& shape,
                             FrameGroup* frames) = 0;
  /// The same on all frames.
  TensorMap run_unit(const std::string& unit, const TensorMap& inputs, const InputShape& shape) {
    return run_unit(unit, inputs, shape, nullptr);
  }
  /// Parameter and buffer names (as in named_parameters / named_buffers)
  /// that a unit owns: what moves with it to its device.
  virtual std::vector<std::string> unit_tensors(const std::string& unit) = 0;
  /// Recompute the activations of the units `checkpointing` names in
  /// backward instead of keeping them.
  virtual void set_checkpointing(const Checkpointing& checkpointing) = 0;
};

class VGGT_LAB_API Model {
 public:
  static constexpr Kind kKind = Kind::model;
  virtual ~Model();
  /// Every state-dict entry, in the order the official model registers them.
  virtual std::vector<TensorSpec> state_dict_spec() const = 0;
  /// The placeable units for inputs of this shape, with edge sizes and cost
  /// estimates under `checkpointing`, computed without allocating the model.
  virtual ModelGraph graph(const InputShape& shape, const Checkpointing& checkpointing) const = 0;
  /// The same without checkpointing.
  ModelGraph graph(const InputShape& shape) const { return graph(shape, Checkpointing{}); }
  /// The unit that owns a state-dict key.
  virtual std::string unit_of(const std::string& key) const = 0;
  /// An instance with the official initialisation (seed torch first), or the
  /// weights the model's options name.
  virtual std::shared_ptr<ModelInstance> build() const = 0;
};

}  // namespace vggt_lab
