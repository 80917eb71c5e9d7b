#include "renderer.hpp"

#include <cmath>
#include <vggt_lab/geometry.hpp>
#include <vggt_lab/scene_folder.hpp>

namespace synthetic {
namespace {

constexpr float kFar = 25.0f;      // farther hits count as sky
constexpr float kGroundY = 1.0f;   // y points down: the ground is below the objects

float uniform(std::mt19937_64& rng, float low, float high) {
  return std::uniform_real_distribution<float>(low, high)(rng);
}

torch::Tensor vec3(const float v[3]) { return torch::tensor({v[0], v[1], v[2]}); }

/// Distance along each ray to a sphere (inf where missed), rays o + t d.
torch::Tensor hit_sphere(const torch::Tensor& o, const torch::Tensor& d, const Primitive& p) {
  auto oc = o - vec3(p.center);
  auto a = (d * d).sum(-1);
  auto b = 2 * (oc * d).sum(-1);
  auto c = (oc * oc).sum(-1) - p.size[0] * p.size[0];
  auto disc = b * b - 4 * a * c;
  auto t = (-b - torch::sqrt(disc.clamp_min(0))) / (2 * a);
  return torch::where((disc >= 0) & (t > 1e-3), t, torch::full_like(t, INFINITY));
}

/// Slab test for an axis-aligned box.
torch::Tensor hit_box(const torch::Tensor& o, const torch::Tensor& d, const Primitive& p) {
  auto center = vec3(p.center), half = vec3(p.size);
  auto inv = 1.0 / d;
  auto t1 = (center - half - o) * inv, t2 = (center + half - o) * inv;
  auto near = torch::minimum(t1, t2).amax(-1), far = torch::maximum(t1, t2).amin(-1);
  return torch::where((far >= near) & (near > 1e-3), near, torch::full_like(near, INFINITY));
}

torch::Tensor box_normal(const torch::Tensor& x, const Primitive& p) {
  auto local = (x - vec3(p.center)) / vec3(p.size);
  auto axis = local.abs().argmax(-1, true);
  auto n = torch::zeros_like(x).scatter(-1, axis, 1.0);
  return n * torch::sign(local);
}

/// A procedural pattern in [0, 1] on world positions, so matches are textured.
torch::Tensor pattern(const torch::Tensor& x, int kind, float scale) {
  auto s = x * scale;
  if (kind == 0) {
    auto cells = torch::floor(s).sum(-1);
    return torch::remainder(cells, 2.0);
  }
  if (kind == 1) return 0.5 + 0.5 * torch::sin(s.select(-1, 0) * 3.1f + s.select(-1, 2) * 1.7f);
  return 0.5 + 0.5 * torch::cos(s.norm(2, -1) * 4.0f);
}

}  // namespace

Scene make_scene(std::mt19937_64& rng, const Options& options) {
  Scene scene;
  for (float& c : scene.ground_color) c = uniform(rng, 0.3f, 0.7f);
  float elevation = uniform(rng, 0.5f, 1.2f), azimuth = uniform(rng, 0, 6.2832f);
  scene.sun[0] = std::cos(azimuth) * std::cos(elevation);
  scene.sun[1] = -std::sin(elevation);
  scene.sun[2] = std::sin(azimuth) * std::cos(elevation);
  for (int i = 0; i < options.objects; ++i) {
    Primitive p;
    p.sphere = uniform(rng, 0, 1) < 0.5f;
    float r = uniform(rng, 0.25f, 0.6f);
    float angle = uniform(rng, 0, 6.2832f), radius = uniform(rng, 0, 1.4f);
    p.size[0] = r;
    p.size[1] = p.sphere ? r : uniform(rng, 0.2f, 0.7f);
    p.size[2] = p.sphere ? r : uniform(rng, 0.2f, 0.6f);
    p.center[0] = radius * std::cos(angle);
    p.center[2] = radius * std::sin(angle);
    p.center[1] = kGroundY - p.size[1];  // resting on the ground
    for (float& c : p.color) c = uniform(rng, 0.15f, 1.0f);
    p.pattern = int(uniform(rng, 0, 3));
    p.pattern_scale = uniform(rng, 2, 8);
    scene.objects.push_back(p);
  }
  return scene;
}

std::pair<torch::Tensor, torch::Tensor> make_cameras(std::mt19937_64& rng, const Options& options,
                                                     int64_t frames, int64_t height, int64_t width) {
  auto extrinsics = torch::zeros({frames, 3, 4}), intrinsics = torch::zeros({frames, 3, 3});
  float azimuth = uniform(rng, 0, 6.2832f), step = uniform(rng, 0.12f, 0.35f);
  for (int64_t s = 0; s < frames; ++s) {
    float a = azimuth + step * float(s) + uniform(rng, -0.05f, 0.05f);
    float distance = uniform(rng, 3.2f, 4.5f), up = uniform(rng, 0.4f, 1.6f);
    auto eye = torch::tensor({distance * std::cos(a), kGroundY - up, distance * std::sin(a)});
    auto target = torch::tensor({uniform(rng, -0.3f, 0.3f), uniform(rng, 0.3f, 0.7f), uniform(rng, -0.3f, 0.3f)});
    auto forward = target - eye;
    forward = forward / forward.norm();
    auto right = torch::cross(forward, torch::tensor({0.0f, 1.0f, 0.0f}), 0);
    right = -right / right.norm();  // x right with y down
    auto down = torch::cross(forward, right, 0);
    auto R = torch::stack({right, down, forward});  // rows: camera axes in world coordinates
    extrinsics[s].slice(1, 0, 3) = R;
    extrinsics[s].select(1, 3) = -torch::matmul(R, eye);
    float fov = uniform(rng, options.min_fov_deg, options.max_fov_deg) * 3.14159265f / 180.0f;
    float fy = float(height) / 2.0f / std::tan(fov / 2.0f);
    float fx = fy * uniform(rng, 0.95f, 1.05f);
    intrinsics[s][0][0] = fx;
    intrinsics[s][1][1] = fy;
    intrinsics[s][0][2] = float(width) / 2.0f;
    intrinsics[s][1][2] = float(height) / 2.0f;
    intrinsics[s][2][2] = 1.0f;
  }
  return {extrinsics, intrinsics};
}

void render(const Scene& scene, const torch::Tensor& extrinsics, const torch::Tensor& intrinsics,
            int64_t height, int64_t width, torch::Tensor& image, torch::Tensor& depth,
            torch::Tensor& points) {
  auto grid = torch::meshgrid({torch::arange(height, torch::kFloat), torch::arange(width, torch::kFloat)}, "ij");
  float fx = intrinsics[0][0].item<float>(), fy = intrinsics[1][1].item<float>();
  float cx = intrinsics[0][2].item<float>(), cy = intrinsics[1][2].item<float>();
  // Camera rays with z = 1, so the hit distance t is the z-depth.
  auto rays = torch::stack({(grid[1] - cx) / fx, (grid[0] - cy) / fy, torch::ones_like(grid[0])}, -1).reshape({-1, 3});
  auto R = extrinsics.slice(1, 0, 3), t = extrinsics.select(1, 3);
  auto origin = -torch::matmul(R.t(), t);
  auto d = torch::matmul(rays, R);  // R^T applied to each ray
  auto o = origin.expand_as(d);
  auto ground_t = (kGroundY - o.select(-1, 1)) / d.select(-1, 1);
  auto best = torch::where(ground_t > 1e-3, ground_t, torch::full_like(ground_t, INFINITY));
  auto which = torch::full_like(best, -1, torch::kLong);  // -1 ground
  for (std::size_t i = 0; i < scene.objects.size(); ++i) {
    const auto& p = scene.objects[i];
    auto hit = p.sphere ? hit_sphere(o, d, p) : hit_box(o, d, p);
    auto closer = hit < best;
    best = torch::where(closer, hit, best);
    which = torch::where(closer, torch::full_like(which, int64_t(i)), which);
  }
  auto valid = best < kFar;
  auto tt = torch::where(valid, best, torch::zeros_like(best));
  auto x = o + d * tt.unsqueeze(-1);
  auto sun = vec3(scene.sun);
  auto normal = torch::zeros_like(x);
  normal.select(-1, 1).fill_(-1.0f);  // the ground faces up (negative y)
  auto color = vec3(scene.ground_color).expand_as(x).clone() *
               (0.55 + 0.45 * pattern(x, 0, 1.5f)).unsqueeze(-1);
  for (std::size_t i = 0; i < scene.objects.size(); ++i) {
    const auto& p = scene.objects[i];
    auto mine = (which == int64_t(i)).unsqueeze(-1);
    auto n = p.sphere ? (x - vec3(p.center)) / p.size[0] : box_normal(x, p);
    normal = torch::where(mine, n, normal);
    auto c = vec3(p.color) * (0.45 + 0.55 * pattern(x, p.pattern, p.pattern_scale)).unsqueeze(-1);
    color = torch::where(mine, c, color);
  }
  auto light = 0.35 + 0.65 * (normal * sun).sum(-1).clamp_min(0);
  auto sky_gradient = 0.6 + 0.4 * (-d.select(-1, 1) / d.norm(2, -1)).clamp(-1, 1);
  auto sky = torch::stack({0.45 * sky_gradient, 0.6 * sky_gradient, 0.9 * sky_gradient}, -1);
  auto rgb = torch::where(valid.unsqueeze(-1), color * light.unsqueeze(-1), sky).clamp(0, 1);
  image = rgb.reshape({height, width, 3}).permute({2, 0, 1}).contiguous();
  depth = tt.reshape({height, width});
  points = (x * valid.unsqueeze(-1)).reshape({height, width, 3});
}

vggt_lab::Sample render_sample(const vggt_lab::SceneRequest& request, const Options& options) {
  std::seed_seq seq{uint64_t(request.seed), uint64_t(request.index), uint64_t(0x5eed)};
  std::mt19937_64 rng(seq);
  Scene scene = make_scene(rng, options);
  auto [extrinsics, intrinsics] = make_cameras(rng, options, request.frames, request.height, request.width);
  const int64_t S = request.frames, H = request.height, W = request.width;
  vggt_lab::Sample sample;
  sample.scene = "synthetic-" + std::to_string(request.index);
  sample.images = torch::empty({S, 3, H, W});
  sample.depths = torch::empty({S, H, W});
  sample.world_points = torch::empty({S, H, W, 3});
  for (int64_t s = 0; s < S; ++s) {
    torch::Tensor image, depth, points;
    render(scene, extrinsics[s], intrinsics[s], H, W, image, depth, points);
    sample.images[s] = image;
    sample.depths[s] = depth;
    sample.world_points[s] = points;
  }
  sample.extrinsics = extrinsics;
  sample.intrinsics = intrinsics;
  sample.point_masks = sample.depths > 0;
  vggt_lab::scene_folder::sample_tracks(sample, request.tracks, rng());
  return sample;
}

}  // namespace synthetic
