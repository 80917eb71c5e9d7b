#pragma once
#include <filesystem>
#include <string>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// Writes `content` to a temporary file beside `path`, flushes it, then
/// renames it over `path`: readers see the old file or the new one, never a
/// half-written one.
VGGT_LAB_API void write_file_atomic(const std::filesystem::path& path, const std::string& content);

}  // namespace vggt_lab
