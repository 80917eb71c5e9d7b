#pragma once
#include <optional>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// The candidate closest to `word` by edit distance, if it is close enough to
/// be what the user meant.
VGGT_LAB_API std::optional<std::string> nearest(const std::string& word,
                                                const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" or "".
VGGT_LAB_API std::string did_you_mean(const std::string& word,
                                      const std::vector<std::string>& candidates);

/// "a, b, c" (or "none").
VGGT_LAB_API std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");

}  // namespace vggt_lab
