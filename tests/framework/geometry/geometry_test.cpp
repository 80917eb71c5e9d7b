// Camera geometry against the official utilities (tests/fixtures/vggt/
// geometry.safetensors, from upstream's pose_enc.py, rotation.py and
// geometry.py). Metric: max absolute difference; tolerance 1e-5 (fp32).
#include <gtest/gtest.h>

#include "vggt_lab/geometry.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab::geometry {
namespace {

constexpr double kTolerance = 1e-5;

std::map<std::string, torch::Tensor> fixture() {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, tensor] :
       load_safetensors(std::string(SOURCE_ROOT) + "/tests/fixtures/vggt/geometry.safetensors").tensors) {
    out[name] = tensor;
  }
  return out;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

TEST(Geometry, QuaternionsAndRotationsMatchUpstream) {
  auto f = fixture();
  EXPECT_LE(max_diff(quat_to_mat(f["quats"]), f["rotations"]), kTolerance);
  EXPECT_LE(max_diff(mat_to_quat(f["rotations"]), f["quats_of_rotations"]), kTolerance);
  EXPECT_LE(max_diff(mat_to_quat(f["flips"]), f["flip_quats"]), kTolerance);
  EXPECT_LE(max_diff(quat_to_mat(mat_to_quat(f["rotations"])), f["rotations"]), kTolerance);
}

TEST(Geometry, PoseEncodingBothWaysMatchesUpstream) {
  auto f = fixture();
  auto encoding = extri_intri_to_pose_encoding(f["extrinsics"], f["intrinsics"], 28, 42);
  EXPECT_LE(max_diff(encoding, f["encoding"]), kTolerance);
  auto [extrinsics, intrinsics] = pose_encoding_to_extri_intri(f["encoding"], 28, 42);
  EXPECT_LE(max_diff(extrinsics, f["extrinsics_back"]), kTolerance);
  EXPECT_LE(max_diff(intrinsics, f["intrinsics_back"]), 1e-4);  // focal lengths ~50 px
}

TEST(Geometry, UnprojectionMatchesUpstreamAndProjectionInvertsIt) {
  auto f = fixture();
  auto E = f["extrinsics"][0], K = f["intrinsics"][0];
  auto world = depth_to_world_points(f["depth"], E, K);
  EXPECT_LE(max_diff(world, f["world_points"]), 1e-4);
  auto [pixels, depth] = project_points(world.reshape({3, -1, 3}), E, K);
  auto grid = torch::meshgrid({torch::arange(28.0), torch::arange(42.0)}, "ij");
  auto expected = torch::stack({grid[1], grid[0]}, -1).reshape({1, -1, 2}).expand({3, -1, -1});
  EXPECT_LE(max_diff(pixels, expected), 1e-3);
  EXPECT_LE(max_diff(depth, f["depth"].reshape({3, -1})), 1e-5);
}

TEST(Geometry, InverseSe3ComposesToIdentity) {
  auto f = fixture();
  auto E = f["extrinsics"].reshape({-1, 3, 4});
  auto inverse = inverse_se3(E);
  auto R = torch::matmul(inverse.slice(-1, 0, 3), E.slice(-1, 0, 3));
  EXPECT_LE(max_diff(R, torch::eye(3).expand({E.size(0), 3, 3})), kTolerance);
}

}  // namespace
}  // namespace vggt_lab::geometry
