#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// What a plugin provides. Each kind has one interface in this SDK.
enum class Kind { model, placement, gradient, optimizer, data };

inline constexpr std::array<Kind, 5> kAllKinds = {Kind::model, Kind::placement, Kind::gradient,
                                                  Kind::optimizer, Kind::data};

VGGT_LAB_API std::string_view to_string(Kind kind);
VGGT_LAB_API std::optional<Kind> kind_from_string(std::string_view text);

}  // namespace vggt_lab
