// The sources `vggt-lab plugins new` writes: a working plugin of each kind
// to start from, built against the installed SDK.
#include "cli/scaffolds.hpp"

namespace vggt_lab {

const std::vector<Scaffold>& scaffolds() {
  static const std::vector<Scaffold> all = {
      {"placement", "placement", "plan", R"text(// `@NAME@`: a placement strategy. A placement is a pure function of the
// model's unit graph (with costs), the logical devices and the memory model;
// the runtime does everything that touches devices.
//
// This starting point cuts the units, in graph order, into `stages`
// contiguous runs of about equal count, one per device. Judge your own ideas
// with vggt_lab::predicted_memory() (the formula every strategy is held to).
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class Strategy : public vggt_lab::Placement {
 public:
  explicit Strategy(int stages) : stages_(stages) {}

  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    const auto& units = problem.graph.units;
    const int devices = static_cast<int>(problem.topology.devices.size());
    const int stages = std::max(1, std::min({stages_ > 0 ? stages_ : devices, devices, int(units.size())}));
    vggt_lab::Plan plan;
    plan.strategy = "@NAME@";
    for (int s = 0; s < stages; ++s) {
      vggt_lab::Stage stage{s, {}, {}};  // third: devices that share its frames (docs/writing-a-placement-plugin.md)
      for (std::size_t u = units.size() * s / stages; u < units.size() * (s + 1) / stages; ++u) {
        stage.units.push_back(units[u].name);
      }
      plan.stages.push_back(stage);
    }
    return plan;
  }

 private:
  int stages_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "@NAME@";
  info.version = "0.1";
  info.summary = "Units in graph order, split evenly over the devices";
  info.schema.integer("stages", 0, "Stages (0: one per logical device)", 0.0);
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<Strategy>(static_cast<int>(options.get<std::int64_t>("stages")));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "@NAME@", "0.1", register_plugins)
)text"},
      {"data", "data", "run", R"text(// `@NAME@`: a data source. A source gives one scene at the frame count and
// size the loader asks for, with exact supervision; batching, normalisation,
// augmentation and prefetching live in the core.
//
// This starting point renders a textured plane seen by cameras sliding
// sideways: exact cameras, depth, world points and tracks. Replace load()
// with a reader of your scenes (vggt_lab/image_io.hpp reads images;
// vggt_lab::geometry::depth_to_world_points unprojects depth).
#include <vggt_lab/data.hpp>
#include <vggt_lab/geometry.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class Source : public vggt_lab::DataSource {
 public:
  Source(std::int64_t scenes, double depth) : scenes_(scenes), depth_(depth) {}

  std::int64_t size() const override { return scenes_; }

  vggt_lab::Sample load(const vggt_lab::SceneRequest& r) const override {
    const std::int64_t S = r.frames, H = r.height, W = r.width;
    // OpenCV camera-from-world [R|t]: no rotation, cameras 0.1 apart along x.
    torch::Tensor extrinsics = torch::zeros({S, 3, 4});
    extrinsics.narrow(2, 0, 3).copy_(torch::eye(3));
    extrinsics.select(2, 3).select(1, 0).copy_(torch::arange(S, torch::kFloat) * -0.1);
    torch::Tensor intrinsics = torch::zeros({S, 3, 3});
    intrinsics.select(2, 0).select(1, 0).fill_(double(W));  // focal length in pixels
    intrinsics.select(2, 1).select(1, 1).fill_(double(W));
    intrinsics.select(2, 2).select(1, 0).fill_(W / 2.0);  // principal point
    intrinsics.select(2, 2).select(1, 1).fill_(H / 2.0);
    intrinsics.select(2, 2).select(1, 2).fill_(1.0);
    vggt_lab::Sample s;
    s.scene = "@NAME@-" + std::to_string(r.index);
    s.depths = torch::full({S, H, W}, depth_ * (1.0 + 0.25 * double(r.index % 4)));
    s.extrinsics = extrinsics;
    s.intrinsics = intrinsics;
    s.world_points = vggt_lab::geometry::depth_to_world_points(s.depths, extrinsics, intrinsics);
    s.point_masks = s.depths > 0;
    // A pattern fixed on the plane, so every view sees the same surface.
    const double k = 20.0 + 5.0 * double(r.index % 3);
    const torch::Tensor x = s.world_points.select(3, 0), y = s.world_points.select(3, 1);
    s.images = torch::stack({torch::sin(k * x), torch::sin(k * y), torch::sin(k * (x + y))}, 1) * 0.5 + 0.5;
    // Tracks: points of frame 0's middle row, projected into every frame.
    const torch::Tensor columns = torch::div(torch::arange(r.tracks) * W, std::max<std::int64_t>(r.tracks, 1), "floor");
    const torch::Tensor points = s.world_points[0][H / 2].index_select(0, columns);
    s.tracks = vggt_lab::geometry::project_points(points.expand({S, r.tracks, 3}), extrinsics, intrinsics).first;
    s.track_masks = (s.tracks.select(2, 0) >= 0) & (s.tracks.select(2, 0) < W);
    return s;
  }

 private:
  std::int64_t scenes_;
  double depth_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "@NAME@";
  info.version = "0.1";
  info.summary = "A textured plane seen by cameras sliding sideways";
  info.schema.integer("scenes", 100, "Number of scenes", 1.0).number("depth", 2.0, "Depth of the plane", 0.01);
  registrar.add<vggt_lab::DataSource>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<Source>(options.get<std::int64_t>("scenes"), options.get<double>("depth"));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("data", "@NAME@", "0.1", register_plugins)
)text"},
      {"gradient", "gradient", "run", R"text(// `@NAME@`: a gradient policy. After backward it sees every trainable
// parameter with its gradient, wherever its device, may change gradients in
// place and may veto the step; the norms it returns are logged per group
// (grad_norms in metrics.jsonl, grad_norm/<group> in TensorBoard).
//
// This starting point clamps every gradient element to [-max_value,
// max_value] and skips a step whose gradients are not finite.
#include <cmath>
#include <vggt_lab/optim.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class Policy : public vggt_lab::GradientPolicy {
 public:
  explicit Policy(double max_value) : max_value_(max_value) {}

  vggt_lab::PolicyDecision apply(const std::vector<vggt_lab::NamedParameter>& parameters) const override {
    vggt_lab::PolicyDecision decision;
    const double norm = vggt_lab::gradient_norm(parameters, 2.0);
    decision.norms["all"] = norm;
    if (!std::isfinite(norm)) {
      decision.skip = true;
      decision.reason = "the gradient norm is " + std::to_string(norm);
      return decision;
    }
    torch::NoGradGuard no_grad;
    for (const auto& p : parameters) {
      if (p.tensor.grad().defined()) p.tensor.grad().clamp_(-max_value_, max_value_);
    }
    return decision;
  }

 private:
  double max_value_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "@NAME@";
  info.version = "0.1";
  info.summary = "Gradients clamped element by element; non-finite steps skipped";
  info.schema.number("max_value", 0.1, "Largest magnitude a gradient element keeps", 0.0);
  registrar.add<vggt_lab::GradientPolicy>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<Policy>(options.get<double>("max_value"));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("gradient", "@NAME@", "0.1", register_plugins)
)text"},
      {"optimizer", "optim", "run", R"text(// `@NAME@`: an optimizer. The trainer keeps one state per logical device,
// over the parameters that device holds, and steps it with the learning rate
// the optimizer's schedule gives for the run's progress; state() and
// load_state() carry the state through checkpoints (bit-exact resume).
//
// This starting point is SGD with momentum (torch.optim.SGD's update) at a
// constant learning rate.
#include <map>
#include <vggt_lab/optim.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

class State : public vggt_lab::OptimizerState {
 public:
  State(std::vector<vggt_lab::NamedParameter> parameters, double momentum)
      : parameters_(std::move(parameters)), momentum_(momentum), buffers_(parameters_.size()) {}

  void step(double learning_rate) override {
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      torch::Tensor& p = parameters_[i].tensor;
      if (!p.grad().defined()) continue;
      torch::Tensor& buffer = buffers_[i];
      buffer = buffer.defined() ? buffer.mul_(momentum_).add_(p.grad()) : p.grad().clone();
      p.add_(buffer, -learning_rate);
    }
  }

  vggt_lab::NamedTensors state() const override {
    vggt_lab::NamedTensors out;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      if (buffers_[i].defined()) out.emplace_back(parameters_[i].name + ".momentum_buffer", buffers_[i]);
    }
    return out;
  }

  void load_state(const vggt_lab::NamedTensors& tensors) override {
    const std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      auto found = by_name.find(parameters_[i].name + ".momentum_buffer");
      if (found != by_name.end()) buffers_[i] = found->second.to(parameters_[i].tensor.device()).clone();
    }
  }

 private:
  std::vector<vggt_lab::NamedParameter> parameters_;
  double momentum_;
  std::vector<torch::Tensor> buffers_;
};

class Optimizer : public vggt_lab::Optimizer {
 public:
  Optimizer(double lr, double momentum) : lr_(lr), momentum_(momentum) {}
  double state_factor() const override { return 1.0; }  // one buffer the size of each parameter
  double learning_rate(double) const override { return lr_; }
  std::unique_ptr<vggt_lab::OptimizerState> create(std::vector<vggt_lab::NamedParameter> parameters) const override {
    return std::make_unique<State>(std::move(parameters), momentum_);
  }

 private:
  double lr_, momentum_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "@NAME@";
  info.version = "0.1";
  info.summary = "SGD with momentum at a constant learning rate";
  info.schema.number("lr", 1e-3, "Learning rate", 0.0).number("momentum", 0.9, "Momentum", 0.0, 1.0);
  registrar.add<vggt_lab::Optimizer>(
      std::move(info), [](const vggt_lab::Options& options, const vggt_lab::PluginContext&) {
        return std::make_unique<Optimizer>(options.get<double>("lr"), options.get<double>("momentum"));
      });
}

}  // namespace

VGGT_LAB_PLUGIN("optimizer", "@NAME@", "0.1", register_plugins)
)text"},
  };
  return all;
}

}  // namespace vggt_lab
