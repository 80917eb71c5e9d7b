#include "vggt_lab/state_dict.hpp"

#include <map>

#include "vggt_lab/error.hpp"
#include "vggt_lab/model.hpp"

namespace vggt_lab {
namespace {

std::string listed(const std::string& what, const std::vector<std::string>& names) {
  if (names.empty()) return "";
  std::string text = std::to_string(names.size()) + " " + what + " (";
  for (std::size_t i = 0; i < names.size() && i < 8; ++i) text += (i ? ", " : "") + names[i];
  return text + (names.size() > 8 ? ", ...)" : ")");
}

}  // namespace

std::string LoadReport::summary() const {
  std::string text = "loaded " + std::to_string(loaded) + " tensors";
  std::vector<std::string> parts;
  for (const auto& part : {listed("missing", missing), listed("unexpected", unexpected),
                           listed("with another shape", mismatched)}) {
    if (!part.empty()) parts.push_back(part);
  }
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i ? "; " : "; not loaded: ") + parts[i];
  return text;
}

NamedTensors state_dict(torch::nn::Module& module, bool with_buffers) {
  NamedTensors out;
  for (const auto& item : module.named_parameters()) out.emplace_back(item.key(), item.value());
  if (with_buffers) {
    for (const auto& item : module.named_buffers()) out.emplace_back(item.key(), item.value());
  }
  return out;
}

LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& tensors, bool strict,
                           const std::string& source) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& [name, tensor] : state_dict(module, true)) targets[name] = tensor;
  std::map<std::string, const torch::Tensor*> given;
  LoadReport report;
  for (const auto& [name, tensor] : tensors) {
    given[name] = &tensor;
    auto target = targets.find(name);
    if (target == targets.end()) {
      report.unexpected.push_back(name);
    } else if (target->second.sizes() != tensor.sizes()) {
      report.mismatched.push_back(name + ": file " + shape_text(tensor.sizes().vec()) + " vs model " +
                                  shape_text(target->second.sizes().vec()));
    }
  }
  for (const auto& [name, tensor] : state_dict(module, false)) {
    if (!given.count(name)) report.missing.push_back(name);
  }
  if (strict && !report.complete()) {
    throw InputError(source + ": does not match the model: " + report.summary().substr(report.summary().find(';') + 2) +
                     ". Check the model options: they must be those the weights were written with");
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : tensors) {
    auto target = targets.find(name);
    if (target == targets.end() || target->second.sizes() != tensor.sizes()) continue;
    target->second.copy_(tensor.to(target->second.scalar_type()));
    ++report.loaded;
  }
  return report;
}

}  // namespace vggt_lab
