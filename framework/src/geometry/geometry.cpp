#include "vggt_lab/geometry.hpp"

namespace vggt_lab::geometry {
namespace {

/// sqrt(max(0, x)) with a zero subgradient at 0.
torch::Tensor sqrt_positive_part(const torch::Tensor& x) {
  auto positive = x > 0;
  return torch::where(positive, torch::sqrt(torch::where(positive, x, torch::ones_like(x))),
                      torch::zeros_like(x));
}

torch::Tensor row(std::initializer_list<torch::Tensor> values) { return torch::stack(values, -1); }

}  // namespace

torch::Tensor quat_to_mat(const torch::Tensor& q) {
  auto parts = q.unbind(-1);
  const auto &i = parts[0], &j = parts[1], &k = parts[2], &r = parts[3];
  auto s = 2.0 / (q * q).sum(-1);
  auto m = row({1 - s * (j * j + k * k), s * (i * j - k * r), s * (i * k + j * r),
                s * (i * j + k * r), 1 - s * (i * i + k * k), s * (j * k - i * r),
                s * (i * k - j * r), s * (j * k + i * r), 1 - s * (i * i + j * j)});
  auto shape = q.sizes().vec();
  shape.back() = 3;
  shape.push_back(3);
  return m.reshape(shape);
}

torch::Tensor mat_to_quat(const torch::Tensor& matrix) {
  TORCH_CHECK(matrix.size(-1) == 3 && matrix.size(-2) == 3, "rotation matrices must be [..., 3, 3]");
  auto batch = matrix.sizes().vec();
  batch.resize(batch.size() - 2);
  auto m = matrix.reshape({-1, 9}).unbind(-1);
  auto q_abs = sqrt_positive_part(row({1 + m[0] + m[4] + m[8], 1 + m[0] - m[4] - m[8],
                                       1 - m[0] + m[4] - m[8], 1 - m[0] - m[4] + m[8]}));
  auto q = q_abs.unbind(-1);
  auto candidates = torch::stack(
      {row({q[0] * q[0], m[7] - m[5], m[2] - m[6], m[3] - m[1]}),
       row({m[7] - m[5], q[1] * q[1], m[3] + m[1], m[2] + m[6]}),
       row({m[2] - m[6], m[3] + m[1], q[2] * q[2], m[5] + m[7]}),
       row({m[3] - m[1], m[6] + m[2], m[7] + m[5], q[3] * q[3]})},
      -2);  // [N, 4 candidates, rijk]
  candidates = candidates / (2.0 * q_abs.unsqueeze(-1).clamp_min(0.1));
  auto best = q_abs.argmax(-1).view({-1, 1, 1}).expand({-1, 1, 4});
  auto rijk = candidates.gather(1, best).squeeze(1);
  auto ijkr = torch::cat({rijk.slice(-1, 1, 4), rijk.slice(-1, 0, 1)}, -1);
  ijkr = torch::where(ijkr.slice(-1, 3, 4) < 0, -ijkr, ijkr);
  batch.push_back(4);
  return ijkr.reshape(batch);
}

torch::Tensor extri_intri_to_pose_encoding(const torch::Tensor& extrinsics,
                                           const torch::Tensor& intrinsics, int64_t height,
                                           int64_t width) {
  auto R = extrinsics.slice(-1, 0, 3).slice(-2, 0, 3);
  auto T = extrinsics.select(-1, 3).slice(-1, 0, 3);
  auto fy = intrinsics.select(-1, 1).select(-1, 1), fx = intrinsics.select(-1, 0).select(-1, 0);
  auto fov_h = 2 * torch::atan((height / 2.0) / fy);
  auto fov_w = 2 * torch::atan((width / 2.0) / fx);
  return torch::cat({T, mat_to_quat(R), fov_h.unsqueeze(-1), fov_w.unsqueeze(-1)}, -1).to(torch::kFloat);
}

std::pair<torch::Tensor, torch::Tensor> pose_encoding_to_extri_intri(const torch::Tensor& encoding,
                                                                     int64_t height, int64_t width) {
  auto T = encoding.slice(-1, 0, 3), quat = encoding.slice(-1, 3, 7);
  auto fov_h = encoding.select(-1, 7), fov_w = encoding.select(-1, 8);
  auto extrinsics = torch::cat({quat_to_mat(quat), T.unsqueeze(-1)}, -1);
  auto fy = (height / 2.0) / torch::tan(fov_h / 2.0);
  auto fx = (width / 2.0) / torch::tan(fov_w / 2.0);
  auto zeros = torch::zeros_like(fx), ones = torch::ones_like(fx);
  auto intrinsics = torch::stack({row({fx, zeros, zeros + width / 2.0}),
                                  row({zeros, fy, zeros + height / 2.0}), row({zeros, zeros, ones})},
                                 -2);
  return {extrinsics, intrinsics};
}

torch::Tensor inverse_se3(const torch::Tensor& extrinsics) {
  auto R = extrinsics.slice(-2, 0, 3).slice(-1, 0, 3);
  auto t = extrinsics.slice(-2, 0, 3).slice(-1, 3, 4);
  auto Rt = R.transpose(-1, -2);
  return torch::cat({Rt, -torch::matmul(Rt, t)}, -1);
}

torch::Tensor depth_to_camera_points(const torch::Tensor& depth, const torch::Tensor& intrinsics) {
  const int64_t H = depth.size(-2), W = depth.size(-1);
  auto options = depth.options();
  auto grid = torch::meshgrid({torch::arange(H, options), torch::arange(W, options)}, "ij");
  auto k = [&](int r, int c) { return intrinsics.select(-1, c).select(-1, r).unsqueeze(-1).unsqueeze(-1); };
  auto x = (grid[1] - k(0, 2)) * depth / k(0, 0);
  auto y = (grid[0] - k(1, 2)) * depth / k(1, 1);
  return torch::stack({x, y, depth}, -1);
}

torch::Tensor depth_to_world_points(const torch::Tensor& depth, const torch::Tensor& extrinsics,
                                    const torch::Tensor& intrinsics) {
  auto camera = depth_to_camera_points(depth, intrinsics);           // [..., H, W, 3]
  auto world_from_camera = inverse_se3(extrinsics);                  // [..., 3, 4]
  auto R = world_from_camera.slice(-1, 0, 3).unsqueeze(-3).unsqueeze(-3);
  auto t = world_from_camera.select(-1, 3).unsqueeze(-2).unsqueeze(-2);
  return torch::matmul(R, camera.unsqueeze(-1)).squeeze(-1) + t;
}

std::pair<torch::Tensor, torch::Tensor> project_points(const torch::Tensor& points,
                                                       const torch::Tensor& extrinsics,
                                                       const torch::Tensor& intrinsics) {
  auto R = extrinsics.slice(-1, 0, 3), t = extrinsics.select(-1, 3);
  auto camera = torch::matmul(points, R.transpose(-1, -2)) + t.unsqueeze(-2);  // [..., N, 3]
  auto z = camera.select(-1, 2);
  auto pixels = torch::matmul(camera, intrinsics.transpose(-1, -2));
  auto uv = pixels.slice(-1, 0, 2) / z.unsqueeze(-1);
  return {uv, z};
}

}  // namespace vggt_lab::geometry
