#pragma once
// The data interface: a source of multi-view scenes with exact supervision.
// Sources render or read one scene at the requested size; batching, ground
// truth normalisation, augmentation and prefetching live in the core.
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "vggt_lab/export.hpp"
#include "vggt_lab/kind.hpp"

namespace vggt_lab {

struct SceneRequest {
  std::int64_t index = 0;   // which scene, 0 <= index < size()
  std::int64_t frames = 2;  // S
  std::int64_t height = 518;
  std::int64_t width = 518;
  std::int64_t tracks = 0;  // N track points to sample
  std::uint64_t seed = 0;   // frame choice, track sampling: deterministic per (seed, index)
};

/// One scene. Cameras are OpenCV camera-from-world; world points are in the
/// source's own world frame (the loader re-expresses them in frame 0's).
struct Sample {
  std::string scene;
  torch::Tensor images;        // [S, 3, H, W] float in [0, 1]
  torch::Tensor depths;        // [S, H, W] float, 0 where invalid
  torch::Tensor extrinsics;    // [S, 3, 4]
  torch::Tensor intrinsics;    // [S, 3, 3]
  torch::Tensor world_points;  // [S, H, W, 3]
  torch::Tensor point_masks;   // [S, H, W] bool
  torch::Tensor tracks;        // [S, N, 2] pixels (x, y); N may be 0
  torch::Tensor track_masks;   // [S, N] bool: visible in that frame
};

class VGGT_LAB_API DataSource {
 public:
  static constexpr Kind kKind = Kind::data;
  virtual ~DataSource();
  /// Number of scenes.
  virtual std::int64_t size() const = 0;
  /// Thread-safe and deterministic for a given request. Bad input (a missing
  /// or unreadable file) throws InputError naming the scene and file.
  virtual Sample load(const SceneRequest& request) const = 0;
};

}  // namespace vggt_lab
