#pragma once
#include <filesystem>
#include <memory>

#include "vggt_lab/export.hpp"

namespace spdlog {
class logger;
}

namespace vggt_lab {

enum class Verbosity { quiet, normal, verbose };

/// The process's one logger, on standard error; plugins get it through
/// PluginContext.
VGGT_LAB_API std::shared_ptr<spdlog::logger> make_logger(Verbosity verbosity);

/// Also writes everything the logger says to `file` (a run folder's log).
VGGT_LAB_API void log_to_file(spdlog::logger& logger, const std::filesystem::path& file);

}  // namespace vggt_lab
