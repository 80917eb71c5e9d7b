#pragma once
// Reading and writing named tensors: safetensors, and state dicts saved by
// Python's torch.save (plain, or a training checkpoint holding `model`).
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct TensorFile {
  NamedTensors tensors;                          // in file order
  std::map<std::string, std::string> metadata;  // safetensors __metadata__
};

/// Throws InputError naming the file for anything malformed or truncated.
VGGT_LAB_API TensorFile load_safetensors(const std::filesystem::path& file);
/// Written atomically (temporary file, then rename).
VGGT_LAB_API void save_safetensors(const std::filesystem::path& file, const NamedTensors& tensors,
                                   const std::map<std::string, std::string>& metadata = {});

/// A torch.save'd state dict, or the `model` entry of a checkpoint dict.
VGGT_LAB_API NamedTensors load_torch_state_dict(const std::filesystem::path& file);
/// torch.save-compatible: Python's torch.load reads it as a dict of tensors.
VGGT_LAB_API void save_torch_state_dict(const std::filesystem::path& file,
                                        const NamedTensors& tensors);

/// By content: safetensors or torch.save (zip).
VGGT_LAB_API NamedTensors load_state_dict_file(const std::filesystem::path& file);

}  // namespace vggt_lab
