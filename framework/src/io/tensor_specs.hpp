#pragma once
// Names and shapes of named tensors: read from a .safetensors header alone
// (a checkpoint checked against a model without reading its gigabytes), and
// matched against what a model holds.
#include <filesystem>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/state_dict.hpp"

namespace vggt_lab {

/// Throws InputError naming the file when its header is not a safetensors header.
VGGT_LAB_API std::vector<TensorSpec> safetensors_specs(const std::filesystem::path& file);

/// `given` against `model` by name and shape: unexpected and mis-shaped
/// tensors in the order given, and the names of `required` not given
/// (missing). Nothing is loaded.
VGGT_LAB_API LoadReport match_specs(const std::vector<TensorSpec>& given, const std::vector<TensorSpec>& model,
                                    const std::vector<std::string>& required);

/// InputError "<source>: does not match the model: <what is wrong>. <advice>"
/// unless the report is complete.
VGGT_LAB_API void require_match(const LoadReport& report, const std::string& source, const std::string& advice);

}  // namespace vggt_lab
