#include "host/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vggt_lab {

std::shared_ptr<spdlog::logger> make_logger(Verbosity verbosity) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  sink->set_pattern("%^%l%$: %v");
  auto logger = std::make_shared<spdlog::logger>("vggt-lab", sink);
  switch (verbosity) {
    case Verbosity::quiet: sink->set_level(spdlog::level::warn); break;
    case Verbosity::normal: sink->set_level(spdlog::level::info); break;
    case Verbosity::verbose: sink->set_level(spdlog::level::debug); break;
  }
  logger->set_level(spdlog::level::debug);
  return logger;
}

void log_to_file(spdlog::logger& logger, const std::filesystem::path& file) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), true);
  sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  sink->set_level(spdlog::level::debug);
  logger.sinks().push_back(sink);
  logger.flush_on(spdlog::level::info);
}

}  // namespace vggt_lab
