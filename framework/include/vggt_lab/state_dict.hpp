#pragma once
// Loading named tensors into a module by name, strictly or not.
#include <string>
#include <vector>

#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab {

struct VGGT_LAB_API LoadReport {
  std::size_t loaded = 0;
  std::vector<std::string> missing;     // in the module, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the module
  std::vector<std::string> mismatched;  // "name: file [a, b] vs model [c, d]"
  bool complete() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  /// "loaded N tensors; skipped: 2 missing (a, b), ..." for logs and errors.
  std::string summary() const;
};

/// The module's parameters (and buffers), by name: what a checkpoint holds.
VGGT_LAB_API NamedTensors state_dict(torch::nn::Module& module, bool with_buffers = false);

/// Copies tensors into the module's parameters and buffers of the same name
/// (converting dtype, keeping the parameter's device). Strict: anything
/// missing, unexpected or mis-shaped is an InputError naming each key and
/// nothing is loaded. Not strict: loads what matches and reports the rest.
VGGT_LAB_API LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& tensors,
                                        bool strict, const std::string& source);

}  // namespace vggt_lab
