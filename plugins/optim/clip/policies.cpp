// Gradient policies: `module-clip` (the official GradientClipper: groups of
// parameters by name substrings, each clipped to its own max norm),
// `global-clip` (one norm over everything) and `skip-nonfinite` (veto a step
// whose gradients hold inf or NaN). Norms combine across devices.
#include <cmath>
#include <vggt_lab/optim.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

using vggt_lab::NamedParameter;
using vggt_lab::PolicyDecision;

bool all_finite(const std::vector<NamedParameter>& params, std::string& first_bad) {
  for (const auto& p : params) {
    const auto& g = p.tensor.grad();
    if (g.defined() && !torch::isfinite(g).all().item<bool>()) {
      first_bad = p.name;
      return false;
    }
  }
  return true;
}

class ModuleClip : public vggt_lab::GradientPolicy {
 public:
  struct Group {
    std::vector<std::string> substrings;
    double max_norm, norm_type;
  };
  explicit ModuleClip(std::vector<Group> groups) : groups_(std::move(groups)) {}

  PolicyDecision apply(const std::vector<NamedParameter>& params) const override {
    std::vector<std::vector<NamedParameter>> members(groups_.size());
    std::vector<std::string> uncovered;
    for (const auto& p : params) {
      bool covered = false;
      for (std::size_t g = 0; g < groups_.size(); ++g) {  // as upstream, a name may match several groups
        for (const auto& sub : groups_[g].substrings) {
          if (p.name.find(sub) != std::string::npos) {
            members[g].push_back(p);
            covered = true;
            break;
          }
        }
      }
      if (!covered) uncovered.push_back(p.name);
    }
    if (!uncovered.empty()) {
      throw vggt_lab::InputError(
          "[gradient] " + std::to_string(uncovered.size()) + " trainable parameter(s) in no clipping group, e.g. '" +
          uncovered.front() + "'; add a group for it to [gradient] groups (e.g. \"point\" or \"track\"), or freeze it");
    }
    PolicyDecision decision;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      if (members[g].empty()) continue;  // e.g. a frozen aggregator
      double norm = vggt_lab::gradient_norm(members[g], groups_[g].norm_type);
      decision.norms[name(g)] = norm;
      vggt_lab::clip_gradients(members[g], norm, groups_[g].max_norm);
    }
    return decision;
  }

 private:
  std::string name(std::size_t g) const {
    std::string out;
    for (const auto& s : groups_[g].substrings) out += (out.empty() ? "" : "+") + s;
    return out;
  }
  std::vector<Group> groups_;
};

class GlobalClip : public vggt_lab::GradientPolicy {
 public:
  GlobalClip(double max_norm, double norm_type) : max_norm_(max_norm), norm_type_(norm_type) {}
  PolicyDecision apply(const std::vector<NamedParameter>& params) const override {
    PolicyDecision decision;
    double norm = vggt_lab::gradient_norm(params, norm_type_);
    decision.norms["all"] = norm;
    vggt_lab::clip_gradients(params, norm, max_norm_);
    return decision;
  }

 private:
  double max_norm_, norm_type_;
};

class SkipNonfinite : public vggt_lab::GradientPolicy {
 public:
  PolicyDecision apply(const std::vector<NamedParameter>& params) const override {
    PolicyDecision decision;
    std::string bad;
    if (!all_finite(params, bad)) {
      decision.skip = true;
      decision.reason = "non-finite gradient in '" + bad + "'";
    }
    decision.norms["all"] = vggt_lab::gradient_norm(params, 2.0);
    return decision;
  }
};

std::vector<ModuleClip::Group> groups_of(const vggt_lab::Options& o) {
  const auto& groups = o.get<std::vector<std::string>>("groups");
  const auto& norms = o.get<std::vector<double>>("max_norms");
  if (!norms.empty() && norms.size() != groups.size()) {
    throw vggt_lab::InputError("[gradient] max_norms has " + std::to_string(norms.size()) +
                               " value(s) for " + std::to_string(groups.size()) + " group(s); give one per group or none");
  }
  std::vector<ModuleClip::Group> out;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    ModuleClip::Group group{{}, norms.empty() ? o.get<double>("max_norm") : norms[g], o.get<double>("norm_type")};
    for (std::size_t start = 0; start <= groups[g].size();) {
      std::size_t comma = std::min(groups[g].find(',', start), groups[g].size());
      if (comma > start) group.substrings.push_back(groups[g].substr(start, comma - start));
      start = comma + 1;
    }
    out.push_back(std::move(group));
  }
  return out;
}

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo clip;
  clip.name = "module-clip";
  clip.version = "1.0";
  clip.summary = "Per-module gradient clipping, as the official GradientClipper";
  clip.doc =
      "Each group holds the trainable parameters whose name contains one of its substrings\n"
      "(a name may match several groups, as upstream: aggregator.camera_token is in both\n"
      "\"aggregator\" and \"camera\")\n"
      "(comma-separated, e.g. \"camera,pose\"); its gradient norm is clipped to max_norm (or\n"
      "its entry of max_norms). A trainable parameter that no group covers is an error, as\n"
      "upstream; groups with no trainable parameter (a frozen aggregator) are skipped. Each\n"
      "group's norm is reported in metrics.jsonl.";
  clip.schema.string_list("groups", {"aggregator", "camera", "depth", "point", "track"}, "Groups of name substrings")
      .number("max_norm", 1.0, "Max norm of every group", 0.0)
      .number_list("max_norms", {}, "Max norm per group (overrides max_norm)", 0.0)
      .number("norm_type", 2.0, "p of the p-norm (inf allowed)", 0.0);
  registrar.add<vggt_lab::GradientPolicy>(std::move(clip), [](const vggt_lab::Options& o, const vggt_lab::PluginContext&) {
    return std::make_unique<ModuleClip>(groups_of(o));
  });
  vggt_lab::PluginInfo global;
  global.name = "global-clip";
  global.version = "1.0";
  global.summary = "Clip the norm of all gradients together";
  global.schema.number("max_norm", 1.0, "Max norm", 0.0).number("norm_type", 2.0, "p of the p-norm", 0.0);
  registrar.add<vggt_lab::GradientPolicy>(std::move(global), [](const vggt_lab::Options& o, const vggt_lab::PluginContext&) {
    return std::make_unique<GlobalClip>(o.get<double>("max_norm"), o.get<double>("norm_type"));
  });
  vggt_lab::PluginInfo skip;
  skip.name = "skip-nonfinite";
  skip.version = "1.0";
  skip.summary = "Skip a step whose gradients hold inf or NaN, and log it";
  registrar.add<vggt_lab::GradientPolicy>(std::move(skip), [](const vggt_lab::Options&, const vggt_lab::PluginContext&) {
    return std::make_unique<SkipNonfinite>();
  });
}

}  // namespace

VGGT_LAB_PLUGIN("gradient", "module-clip", "1.0", register_plugins)
