#include <cmath>

#include "vggt_lab/optim.hpp"

namespace vggt_lab {

double gradient_norm(const std::vector<NamedParameter>& parameters, double p) {
  double total = 0;
  for (const auto& param : parameters) {
    const auto& g = param.tensor.grad();
    if (!g.defined()) continue;
    double n = g.detach().to(torch::kDouble).norm(p).item<double>();
    total = std::isinf(p) ? std::max(total, n) : total + std::pow(n, p);
  }
  return std::isinf(p) ? total : std::pow(total, 1.0 / p);
}

void clip_gradients(const std::vector<NamedParameter>& parameters, double norm, double max_norm) {
  double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1.0) return;
  torch::NoGradGuard no_grad;
  for (const auto& param : parameters) {
    if (param.tensor.grad().defined()) param.tensor.mutable_grad().mul_(coefficient);
  }
}

}  // namespace vggt_lab
