#pragma once
#include <vggt_lab/model.hpp>

#include "config.hpp"

namespace vggt_plugin {

/// The official model's state-dict names and shapes for `config`, in
/// registration order, computed without allocating anything.
std::vector<vggt_lab::TensorSpec> state_dict_spec(const VggtConfig& config);

}  // namespace vggt_plugin
