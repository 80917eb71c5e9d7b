// `adamw`: torch.optim.AdamW's update (its fused kernel), with per-module learning-rate and
// weight-decay multipliers, optional no-decay for norms and biases, and the
// official schedule (linear warm-up then cosine, as fractions of the run) or
// a constant rate.
#include <cmath>
#include <map>
#include <tuple>
#include <vggt_lab/optim.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

struct Settings {
  double lr = 5e-5, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.05;
  std::string schedule = "cosine";
  double warmup = 0.05, start_lr = 1e-8, end_lr = 1e-8;
  bool no_decay_norms_and_biases = false;
  std::vector<std::pair<std::string, double>> lr_scales, wd_scales;  // glob -> factor
};

bool glob(const std::string& p, const std::string& s, std::size_t i = 0, std::size_t j = 0) {
  if (i == p.size()) return j == s.size();
  if (p[i] == '*') return glob(p, s, i + 1, j) || (j < s.size() && glob(p, s, i, j + 1));
  return j < s.size() && (p[i] == '?' || p[i] == s[j]) && glob(p, s, i + 1, j + 1);
}

double factor(const std::vector<std::pair<std::string, double>>& scales, const std::string& name) {
  double f = 1.0;
  for (const auto& [pattern, value] : scales) {
    if (glob(pattern, name)) f *= value;
  }
  return f;
}

std::vector<std::pair<std::string, double>> parse_scales(const std::vector<std::string>& entries,
                                                         const char* key) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& entry : entries) {
    auto eq = entry.rfind('=');
    if (eq == std::string::npos) {
      throw vggt_lab::InputError(std::string("[optim] ") + key + " entry '" + entry +
                                 "' must read \"<glob>=<factor>\", e.g. \"*camera_head*=2.0\"");
    }
    out.emplace_back(entry.substr(0, eq), std::stod(entry.substr(eq + 1)));
  }
  return out;
}

class AdamWState : public vggt_lab::OptimizerState {
 public:
  AdamWState(std::vector<vggt_lab::NamedParameter> params, Settings settings)
      : params_(std::move(params)), s_(std::move(settings)) {
    for (const auto& p : params_) {
      double decay = s_.weight_decay * factor(s_.wd_scales, p.name);
      if (s_.no_decay_norms_and_biases && (p.tensor.dim() <= 1)) decay = 0;
      per_param_.push_back({factor(s_.lr_scales, p.name), decay, {}, {}, {}});
    }
  }

  /// One fused update (ATen's _fused_adamw_, as torch.optim.AdamW(fused=True))
  /// per group of tensors that share device, type, learning-rate scale and
  /// weight decay: each element read and written once, no temporaries.
  void step(double lr) override {
    torch::NoGradGuard no_grad;
    std::map<std::tuple<std::string, int, double, double>, Lists> groups;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      auto& p = params_[i].tensor;
      const auto& g = p.grad();
      if (!g.defined()) continue;
      auto& st = per_param_[i];
      if (!st.exp_avg.defined()) {
        st.exp_avg = torch::zeros_like(p);
        st.exp_avg_sq = torch::zeros_like(p);
        st.step = torch::zeros({}, p.options().dtype(torch::kFloat));
      }
      Lists& l = groups[{p.device().str(), int(p.scalar_type()), st.lr_scale, st.weight_decay}];
      l.params.push_back(p);
      l.grads.push_back(g);
      l.exp_avgs.push_back(st.exp_avg);
      l.exp_avg_sqs.push_back(st.exp_avg_sq);
      l.steps.push_back(st.step);
    }
    for (auto& [key, l] : groups) {
      const auto& [device, type, lr_scale, weight_decay] = key;
      at::_foreach_add_(l.steps, 1);
      at::_fused_adamw_(l.params, l.grads, l.exp_avgs, l.exp_avg_sqs, {}, l.steps, lr * lr_scale, s_.beta1, s_.beta2,
                        weight_decay, s_.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
  }

  vggt_lab::NamedTensors state() const override {
    vggt_lab::NamedTensors out;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const auto& st = per_param_[i];
      if (!st.exp_avg.defined()) continue;
      out.emplace_back(params_[i].name + ".exp_avg", st.exp_avg);
      out.emplace_back(params_[i].name + ".exp_avg_sq", st.exp_avg_sq);
      out.emplace_back(params_[i].name + ".step", st.step.to(torch::kCPU).to(torch::kLong));
    }
    return out;
  }

  void load_state(const vggt_lab::NamedTensors& tensors) override {
    std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const std::string& name = params_[i].name;
      auto avg = by_name.find(name + ".exp_avg");
      if (avg == by_name.end()) continue;
      auto& st = per_param_[i];
      st.exp_avg = avg->second.to(params_[i].tensor.device()).clone();
      st.exp_avg_sq = by_name.at(name + ".exp_avg_sq").to(params_[i].tensor.device()).clone();
      st.step = by_name.at(name + ".step").to(params_[i].tensor.device(), torch::kFloat).clone();
    }
  }

 private:
  struct PerParameter {
    double lr_scale, weight_decay;
    torch::Tensor exp_avg, exp_avg_sq, step;  // step: a float scalar on the parameter's device, as fused AdamW keeps it
  };
  struct Lists {
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
  };
  std::vector<vggt_lab::NamedParameter> params_;
  std::vector<PerParameter> per_param_;
  Settings s_;
};

class AdamW : public vggt_lab::Optimizer {
 public:
  explicit AdamW(Settings s) : s_(std::move(s)) {}
  double state_factor() const override { return 2.0; }
  double learning_rate(double progress) const override {
    if (s_.schedule == "constant") return s_.lr;
    progress = std::clamp(progress, 0.0, 1.0);
    if (progress < s_.warmup) return s_.start_lr + (s_.lr - s_.start_lr) * progress / s_.warmup;
    double t = s_.warmup < 1.0 ? (progress - s_.warmup) / (1.0 - s_.warmup) : 1.0;
    return s_.end_lr + 0.5 * (s_.lr - s_.end_lr) * (1 + std::cos(3.14159265358979 * t));
  }
  std::unique_ptr<vggt_lab::OptimizerState> create(std::vector<vggt_lab::NamedParameter> params) const override {
    return std::make_unique<AdamWState>(std::move(params), s_);
  }

 private:
  Settings s_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "adamw";
  info.version = "1.1";
  info.summary = "AdamW with per-module multipliers and warm-up + cosine schedule";
  info.doc =
      "torch.optim.AdamW's update (decoupled weight decay, bias-corrected moments). The\n"
      "schedule as the official trainer: linear from start_lr to lr over the first `warmup`\n"
      "fraction of the run, then cosine down to end_lr; or constant. lr_scales and\n"
      "wd_scales multiply per parameter by glob, e.g. [\"*camera_head*=2.0\"].";
  info.schema.number("lr", 5e-5, "Peak learning rate", 0.0)
      .number("beta1", 0.9, "First-moment decay", 0.0, 1.0)
      .number("beta2", 0.999, "Second-moment decay", 0.0, 1.0)
      .number("eps", 1e-8, "Denominator epsilon", 0.0)
      .number("weight_decay", 0.05, "Decoupled weight decay", 0.0)
      .string("schedule", "cosine", "cosine (warm-up then cosine) or constant", {"cosine", "constant"})
      .number("warmup", 0.05, "Warm-up as a fraction of the run", 0.0, 1.0)
      .number("start_lr", 1e-8, "Learning rate at the start of warm-up", 0.0)
      .number("end_lr", 1e-8, "Learning rate at the end of the run", 0.0)
      .boolean("no_decay_norms_and_biases", false, "No weight decay on 1-D parameters")
      .string_list("lr_scales", {}, "Learning-rate multipliers: \"<glob>=<factor>\"")
      .string_list("wd_scales", {}, "Weight-decay multipliers: \"<glob>=<factor>\"");
  registrar.add<vggt_lab::Optimizer>(std::move(info), [](const vggt_lab::Options& o, const vggt_lab::PluginContext&) {
    Settings s;
    s.lr = o.get<double>("lr");
    s.beta1 = o.get<double>("beta1");
    s.beta2 = o.get<double>("beta2");
    s.eps = o.get<double>("eps");
    s.weight_decay = o.get<double>("weight_decay");
    s.schedule = o.get<std::string>("schedule");
    s.warmup = o.get<double>("warmup");
    s.start_lr = o.get<double>("start_lr");
    s.end_lr = o.get<double>("end_lr");
    s.no_decay_norms_and_biases = o.get<bool>("no_decay_norms_and_biases");
    s.lr_scales = parse_scales(o.get<std::vector<std::string>>("lr_scales"), "lr_scales");
    s.wd_scales = parse_scales(o.get<std::vector<std::string>>("wd_scales"), "wd_scales");
    return std::make_unique<AdamW>(std::move(s));
  });
}

}  // namespace

VGGT_LAB_PLUGIN("optimizer", "adamw", "1.1", register_plugins)
