#pragma once
// The names and shapes a .safetensors file holds, from its header alone
// (a checkpoint checked against a model without reading its gigabytes).
#include <filesystem>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/model.hpp"

namespace vggt_lab {

/// Throws InputError naming the file when its header is not a safetensors header.
VGGT_LAB_API std::vector<TensorSpec> safetensors_specs(const std::filesystem::path& file);

}  // namespace vggt_lab
