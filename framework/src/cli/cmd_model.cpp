#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "vggt_lab/model.hpp"

namespace vggt_lab {

int command_model_keys(const GlobalOptions& global, const ModelKeysArgs& args) {
  RawConfig raw;
  raw.file = "model-keys.toml";
  apply_override(raw, "model.plugin=" + args.plugin);
  if (!args.preset.empty()) apply_override(raw, "model.preset=" + args.preset);
  for (const std::string& assignment : args.overrides) apply_override(raw, assignment);
  Session session = open_session(global);
  ResolvedConfig config = resolve_config(raw, session.host->registry());
  auto model = session.host->registry().create<Model>(
      args.plugin, config.plugin_options("model"), session.host->context());
  auto tensors = model.call([](Model& m) { return m.state_dict_spec(); });
  std::int64_t parameters = 0;
  for (const TensorSpec& tensor : tensors) {
    std::cout << tensor.name << "\t" << shape_text(tensor.shape) << "\n";
    parameters += numel(tensor);
  }
  session.logger->info("{} tensors, {} parameters", tensors.size(), parameters);
  return 0;
}

}  // namespace vggt_lab
