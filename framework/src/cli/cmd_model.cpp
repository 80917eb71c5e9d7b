#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "train/checkpoint.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab {
namespace {

/// The module a key belongs to, for display: "aggregator.frame_blocks.3",
/// "aggregator.patch_embed", "camera_head.trunk", "aggregator.camera_token".
std::string module_path(const std::string& key) {
  std::vector<std::string> parts;
  for (std::size_t start = 0, dot; start <= key.size(); start = dot + 1) {
    dot = std::min(key.find('.', start), key.size());
    parts.push_back(key.substr(start, dot - start));
  }
  bool numbered = parts.size() > 3 && std::isdigit(static_cast<unsigned char>(parts[2][0]));
  std::size_t keep = std::min<std::size_t>(parts.size() - (parts.size() > 2 ? 1 : 0), numbered ? 3 : 2);
  std::string path = parts[0];
  for (std::size_t i = 1; i < keep; ++i) path += "." + parts[i];
  return path;
}

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

int command_model_show(const GlobalOptions& global, const ModelShowArgs& args) {
  Experiment experiment = open_experiment(global, args.file, args.overrides);
  auto model = create_model(experiment);
  auto tensors = model.call([](Model& m) { return m.state_dict_spec(); });
  auto graph = model.call([](Model& m) { return m.graph(InputShape{}); });
  std::map<std::string, std::map<std::string, int64_t>> modules;  // unit -> module -> params
  int64_t total = 0;
  for (const TensorSpec& t : tensors) {
    std::string unit = model.call([&](Model& m) { return m.unit_of(t.name); });
    modules[unit][module_path(t.name)] += numel(t);
    total += numel(t);
  }
  std::cout << "model " << model.origin.name << ": " << grouped(total) << " parameters in " << tensors.size()
            << " tensors, " << graph.units.size() << " units\n";
  for (const Unit& unit : graph.units) {
    std::cout << "\n" << unit.name << "  " << grouped(unit.cost.param_bytes / 4) << "\n";
    for (const auto& [path, count] : modules[unit.name]) {
      std::cout << "  " << path << "  " << grouped(count) << "\n";
    }
  }
  return 0;
}

int command_model_convert(const GlobalOptions&, const ModelConvertArgs& args) {
  if (std::filesystem::exists(args.output) && !args.force) {
    throw InputError(args.output.string() + " exists: name a new file, or pass --force to replace it");
  }
  NamedTensors tensors = train::model_weights(args.input);
  std::string extension = args.output.extension().string();
  if (extension == ".safetensors") {
    save_safetensors(args.output, tensors);
  } else if (extension == ".pt" || extension == ".pth") {
    save_torch_state_dict(args.output, tensors);
  } else {
    throw InputError("cannot tell the format of " + args.output.string() +
                     ": name it *.safetensors or *.pt");
  }
  std::cout << "wrote " << tensors.size() << " tensors to " << args.output.string() << "\n";
  return 0;
}

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
