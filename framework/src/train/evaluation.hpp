#pragma once
// The VGGT paper's metrics on held-out scenes: relative camera rotation and
// translation-direction errors over all frame pairs with AUC@30, depth AbsRel
// and delta < 1.25 after per-frame median scaling, and point error after
// median scale alignment (all in the normalised ground-truth frame).
#include <map>
#include <string>

#include "vggt_lab/model.hpp"

namespace vggt_lab::train {

/// Metric name -> value; keys: rotation_error_deg, translation_error_deg,
/// auc30, depth_abs_rel, depth_delta_1_25, point_error. A metric whose
/// predictions are missing is left out.
VGGT_LAB_API std::map<std::string, double> evaluate(const TensorMap& predictions, const TensorMap& batch);

/// Mean over thresholds 1..max_deg of the share of errors below each.
VGGT_LAB_API double auc(const std::vector<double>& errors, int max_deg = 30);

}  // namespace vggt_lab::train
