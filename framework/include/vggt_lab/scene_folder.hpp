#pragma once
// The scene-folder layout, for real captures and exported synthetic scenes:
//
//   <root>/<scene>/images/<frame>.png|.jpg    RGB
//   <root>/<scene>/depths/<frame>.png         16-bit depth, metres = value x depth_scale
//                   or    <frame>.npy         float32 [H, W] depth in metres
//   <root>/<scene>/cameras.json
//     {"depth_scale": 0.001,
//      "frames": [{"image": "000.png", "depth": "000.png",
//                  "extrinsics": [[r00, r01, r02, t0], [..], [..]],   OpenCV camera-from-world
//                  "intrinsics": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]}, ...]}
//
// Depth 0 marks invalid pixels.
#include <filesystem>
#include <string>
#include <vector>

#include "vggt_lab/data.hpp"

namespace vggt_lab::scene_folder {

struct Frame {
  std::string image, depth;
  torch::Tensor extrinsics, intrinsics;  // [3, 4], [3, 3]
};

struct Scene {
  std::filesystem::path dir;
  double depth_scale = 0.001;
  std::vector<Frame> frames;
};

/// Reads cameras.json; errors name the scene and file.
VGGT_LAB_API Scene read_index(const std::filesystem::path& dir);

/// Loads frames (images [S,3,H,W], depths, cameras) at their stored size.
VGGT_LAB_API Sample read_frames(const Scene& scene, const std::vector<int64_t>& frames);

/// Writes a sample (depth as 16-bit PNG at depth_scale, or .npy when npy).
VGGT_LAB_API void write(const std::filesystem::path& dir, const Sample& sample, double depth_scale,
                        bool npy_depth = false);

/// Fills sample.tracks / track_masks with n points seen in frame 0 (drawn
/// with `seed`), projected into every frame and visible where in the image
/// and not behind a nearer surface of that frame's depth.
VGGT_LAB_API void sample_tracks(Sample& sample, std::int64_t n, std::uint64_t seed);

/// Resizes (keeping the aspect ratio) and centre-crops a sample to H x W,
/// adjusting intrinsics and recomputing world points.
VGGT_LAB_API void fit(Sample& sample, std::int64_t height, std::int64_t width);

/// float32 .npy files (C order), for depth.
VGGT_LAB_API torch::Tensor read_npy(const std::filesystem::path& file);
VGGT_LAB_API void write_npy(const std::filesystem::path& file, const torch::Tensor& tensor);

}  // namespace vggt_lab::scene_folder
