#pragma once
// Procedural scenes rendered by ray casting: a textured ground plane and
// boxes and spheres with their own colours and patterns, lit by a sun and a
// sky, seen by S cameras around them with varied intrinsics.
#include <cstdint>
#include <random>
#include <vector>
#include <vggt_lab/data.hpp>

namespace synthetic {

struct Primitive {
  bool sphere = true;
  float center[3] = {0, 0, 0};
  float size[3] = {1, 1, 1};  // radius in size[0] for spheres, half extents for boxes
  float color[3] = {1, 1, 1};
  float pattern_scale = 4;
  int pattern = 0;  // 0 checker, 1 stripes, 2 rings
};

struct Scene {
  std::vector<Primitive> objects;
  float ground_color[3] = {0.5f, 0.5f, 0.5f};
  float sun[3] = {0, -1, 0};  // direction towards the sun (y points down)
};

struct Options {
  int objects = 5;
  float min_fov_deg = 45, max_fov_deg = 65;
};

/// The scene of (seed, index), deterministic.
Scene make_scene(std::mt19937_64& rng, const Options& options);

/// Cameras [S, 3, 4] and intrinsics [S, 3, 3] orbiting the scene.
std::pair<torch::Tensor, torch::Tensor> make_cameras(std::mt19937_64& rng, const Options& options,
                                                     int64_t frames, int64_t height, int64_t width);

/// Renders one frame: image [3, H, W], depth [H, W] (0 for sky), world points [H, W, 3].
void render(const Scene& scene, const torch::Tensor& extrinsics, const torch::Tensor& intrinsics,
            int64_t height, int64_t width, torch::Tensor& image, torch::Tensor& depth,
            torch::Tensor& points);

/// A whole sample, tracks included.
vggt_lab::Sample render_sample(const vggt_lab::SceneRequest& request, const Options& options);

}  // namespace synthetic
