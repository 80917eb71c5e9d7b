#pragma once
// What `vggt-lab infer` reads and writes: a folder of images prepared as
// upstream's load_and_preprocess_images, depth previews, point clouds.
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab::io {

struct ImageFolder {
  torch::Tensor images;            // [1, S, 3, H, W] in [0, 1]
  std::vector<std::string> stems;  // the files' names without extension, sorted
};

/// The .png and .jpg images of `dir`, sorted by name, resized to `width`
/// with the height a multiple of `patch` (centre-cropped to max_height).
/// Throws InputError naming the folder when it is not one or holds none.
VGGT_LAB_API ImageFolder read_image_folder(const std::filesystem::path& dir, std::int64_t width,
                                           std::int64_t max_height, std::int64_t patch);

/// [3, H, W] colours of a [H, W] map: blue (near) to red (far) through green
/// and yellow over the valid values' range, black where not valid.
VGGT_LAB_API torch::Tensor colorize(const torch::Tensor& value, const torch::Tensor& valid);

/// Binary little-endian PLY of [N, 3] points with [N, 3] colours in [0, 1].
VGGT_LAB_API void write_ply(const std::filesystem::path& file, const torch::Tensor& points,
                            const torch::Tensor& colors);

}  // namespace vggt_lab::io
