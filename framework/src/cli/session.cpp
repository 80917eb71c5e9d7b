#include "cli/session.hpp"

#include <cstdlib>

namespace vggt_lab {

Verbosity GlobalOptions::verbosity() const {
  if (verbose) return Verbosity::verbose;
  return quiet ? Verbosity::quiet : Verbosity::normal;
}

Session open_session(const GlobalOptions& global,
                     const std::vector<std::filesystem::path>& config_dirs) {
  Session session;
  session.logger = make_logger(global.verbosity());
  session.host = std::make_unique<PluginHost>(session.logger);
  session.host->load_search_path(
      plugin_search_path(global.plugin_paths, config_dirs, std::getenv("VGGT_LAB_PLUGIN_PATH")));
  return session;
}

Experiment open_experiment(const GlobalOptions& global, const std::filesystem::path& file,
                           const std::vector<std::string>& overrides) {
  RawConfig raw = load_config(file);
  for (const std::string& assignment : overrides) apply_override(raw, assignment);
  Session session = open_session(global, config_search_path(raw));
  ResolvedConfig config = resolve_config(raw, session.host->registry());
  return {std::move(session), std::move(raw), std::move(config)};
}

}  // namespace vggt_lab
