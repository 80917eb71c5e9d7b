#pragma once
// CRC-32C (Castagnoli), as iSCSI, ext4 and TensorBoard's record files use it:
// with SSE4.2 the processor's crc32 instruction, else a table.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// Continues `crc` (0 to start) over `size` bytes.
VGGT_LAB_API std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);

/// CRC-32C of a whole file. Throws Error when it cannot be read.
VGGT_LAB_API std::uint32_t file_crc32c(const std::filesystem::path& file);

}  // namespace vggt_lab
