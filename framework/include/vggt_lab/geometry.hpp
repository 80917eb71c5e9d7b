#pragma once
// Camera geometry shared by models, data and losses, as the official code
// defines it: OpenCV camera-from-world extrinsics [R|t] (x right, y down,
// z forward), pixel intrinsics, XYZW (scalar-last) quaternions, and the
// "absT_quaR_FoV" pose encoding [t(3), q(4), fov_h, fov_w].
#include <torch/torch.h>

#include <utility>

#include "vggt_lab/export.hpp"

namespace vggt_lab::geometry {

/// [..., 4] XYZW -> [..., 3, 3]; tolerates non-unit quaternions.
VGGT_LAB_API torch::Tensor quat_to_mat(const torch::Tensor& quaternions);
/// [..., 3, 3] -> [..., 4] XYZW with a non-negative real part (PyTorch3D's algorithm).
VGGT_LAB_API torch::Tensor mat_to_quat(const torch::Tensor& matrix);

/// extrinsics [..., 3, 4], intrinsics [..., 3, 3], image H x W -> [..., 9].
VGGT_LAB_API torch::Tensor extri_intri_to_pose_encoding(const torch::Tensor& extrinsics,
                                                        const torch::Tensor& intrinsics,
                                                        int64_t height, int64_t width);
/// [..., 9] -> (extrinsics [..., 3, 4], intrinsics [..., 3, 3] with the
/// principal point at the image centre).
VGGT_LAB_API std::pair<torch::Tensor, torch::Tensor> pose_encoding_to_extri_intri(
    const torch::Tensor& encoding, int64_t height, int64_t width);

/// [R|t] -> [Rᵀ | -Rᵀt], for [..., 3, 4] or [..., 4, 4] (returns [..., 3, 4]).
VGGT_LAB_API torch::Tensor inverse_se3(const torch::Tensor& extrinsics);

/// depth [..., H, W], intrinsics [..., 3, 3] -> camera points [..., H, W, 3]
/// at integer pixel coordinates.
VGGT_LAB_API torch::Tensor depth_to_camera_points(const torch::Tensor& depth,
                                                  const torch::Tensor& intrinsics);
/// ... and to world points with camera-from-world extrinsics [..., 3, 4].
VGGT_LAB_API torch::Tensor depth_to_world_points(const torch::Tensor& depth,
                                                 const torch::Tensor& extrinsics,
                                                 const torch::Tensor& intrinsics);

/// World points [..., N, 3] -> (pixels [..., N, 2], depth [..., N]) in the
/// camera [..., 3, 4] / [..., 3, 3].
VGGT_LAB_API std::pair<torch::Tensor, torch::Tensor> project_points(
    const torch::Tensor& points, const torch::Tensor& extrinsics, const torch::Tensor& intrinsics);

}  // namespace vggt_lab::geometry
