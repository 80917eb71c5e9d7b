#include "vggt_lab/state_dict.hpp"

#include <map>
#include <set>

#include "io/tensor_specs.hpp"
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

LoadReport match_specs(const std::vector<TensorSpec>& given, const std::vector<TensorSpec>& model,
                       const std::vector<std::string>& required) {
  std::map<std::string, const TensorSpec*> targets;
  for (const TensorSpec& t : model) targets[t.name] = &t;
  std::set<std::string> names;
  LoadReport report;
  for (const TensorSpec& t : given) {
    names.insert(t.name);
    const auto target = targets.find(t.name);
    if (target == targets.end()) {
      report.unexpected.push_back(t.name);
    } else if (target->second->shape != t.shape) {
      report.mismatched.push_back(t.name + ": file " + shape_text(t.shape) + " vs model " +
                                  shape_text(target->second->shape));
    }
  }
  for (const std::string& name : required) {
    if (!names.count(name)) report.missing.push_back(name);
  }
  return report;
}

void require_match(const LoadReport& report, const std::string& source, const std::string& advice) {
  if (report.complete()) return;
  const std::string summary = report.summary();
  throw InputError(source + ": does not match the model: " + summary.substr(summary.find(';') + 2) + ". " + advice);
}

LoadReport load_state_dict(torch::nn::Module& module, const NamedTensors& tensors, bool strict,
                           const std::string& source) {
  std::map<std::string, torch::Tensor> targets;
  std::vector<TensorSpec> model, given;
  for (const auto& [name, tensor] : state_dict(module, true)) {
    targets[name] = tensor;
    model.push_back({name, tensor.sizes().vec()});
  }
  for (const auto& [name, tensor] : tensors) given.push_back({name, tensor.sizes().vec()});
  std::vector<std::string> parameters;
  for (const auto& [name, tensor] : state_dict(module, false)) parameters.push_back(name);
  LoadReport report = match_specs(given, model, parameters);
  if (strict) require_match(report, source, "Check the model options: they must be those the weights were written with");
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
