#pragma once
// Images on disk: PNG and JPEG in (stb), PNG out (libpng), 8- and 16-bit.
#include <filesystem>

#include <torch/torch.h>

#include "vggt_lab/export.hpp"

namespace vggt_lab::image {

/// RGB image as float [3, H, W] in [0, 1]. Throws InputError naming the file.
VGGT_LAB_API torch::Tensor read_rgb(const std::filesystem::path& file);
/// Single-channel 16-bit PNG as int32 [H, W] (values 0..65535).
VGGT_LAB_API torch::Tensor read_u16(const std::filesystem::path& file);

/// float [3, H, W] in [0, 1] (or uint8 [H, W, 3]) as an 8-bit RGB PNG.
VGGT_LAB_API void write_rgb(const std::filesystem::path& file, const torch::Tensor& image);
/// [H, W] values 0..65535 as a 16-bit grayscale PNG.
VGGT_LAB_API void write_u16(const std::filesystem::path& file, const torch::Tensor& image);

}  // namespace vggt_lab::image
