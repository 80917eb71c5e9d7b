#include "profile/profiler.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>

#include "host/files.hpp"
#include "runtime/memory_meter.hpp"
#include "vggt_lab/compat.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab::profile {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

/// Allocated bytes on the profiled device, as the runtime's meter counts them.
class Probe {
 public:
  explicit Probe(torch::Device device) : device_(device) { runtime::install_memory_meter(device_); }
  void sync() const {
    if (device_.is_cuda()) compat::cuda_synchronize(device_.has_index() ? device_.index() : 0);
  }
  std::int64_t current() const { return runtime::memory_count(device_, kSlot).current; }
  std::int64_t peak() const { return runtime::memory_count(device_, kSlot).peak; }
  void reset_peak() const { runtime::reset_memory_peaks(device_); }
  static constexpr int kSlot = 0;  // the meter's account the profile allocates on

 private:
  torch::Device device_;
};

/// The fastest run: the least disturbed by other work on a shared machine.
double fastest(const std::vector<double>& values) {
  return values.empty() ? 0.0 : *std::min_element(values.begin(), values.end());
}

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Context {
  ModelInstance& model;
  const ModelGraph& graph;
  const TensorMap& batch;  // on the device
  const runtime::LossFn& loss;
  const Probe& probe;
  InputShape shape;
  std::set<std::string> edge_tensors;
  TensorMap values;  // every edge tensor, from one forward without gradients
};

/// The unit's inputs as the runtime gives them: tensors from other units
/// require gradients, model inputs do not.
TensorMap unit_inputs(const Context& c, const std::string& unit) {
  TensorMap inputs;
  for (const Edge& e : c.graph.edges) {
    if (e.to != unit || inputs.count(e.tensor)) continue;
    torch::Tensor t = c.values.at(e.tensor).detach();
    if (!e.from.empty() && t.is_floating_point()) t.requires_grad_(true);
    inputs[e.tensor] = t;
  }
  return inputs;
}

void forward_all(Context& c) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : c.batch) c.values[name] = tensor;
  for (const Unit& unit : c.graph.units) {
    for (auto& [name, tensor] : c.model.run_unit(unit.name, unit_inputs(c, unit.name), c.shape)) {
      if (c.edge_tensors.count(name)) c.values[name] = tensor;
    }
  }
}

/// The unit's trainable parameters.
std::vector<torch::Tensor> unit_parameters(ModelInstance& model, const std::string& unit) {
  auto named = model.module().named_parameters();
  std::vector<torch::Tensor> out;
  for (const auto& name : model.unit_tensors(unit)) {
    if (auto* p = named.find(name); p && p->requires_grad()) out.push_back(*p);
  }
  return out;
}

UnitProfile measure_unit(const Context& c, const Unit& unit, int repeat) {
  UnitProfile p;
  p.unit = unit.name;
  p.analytic = unit.cost;
  std::vector<double> forward, backward;
  std::vector<torch::Tensor> params = unit_parameters(c.model, unit.name);
  for (int run = 0; run <= repeat; ++run) {  // run 0 warms up
    // Gradients start empty, as after the trainer's zero_grad; the plan
    // counts them apart from the workspace.
    runtime::clear_gradients(params);
    TensorMap inputs = unit_inputs(c, unit.name);
    c.probe.sync();
    const std::int64_t before = c.probe.current();
    c.probe.reset_peak();
    auto start = Clock::now();
    TensorMap outputs = c.model.run_unit(unit.name, inputs, c.shape), predictions;
    std::vector<torch::Tensor> roots, grads;
    for (const auto& [name, tensor] : outputs) {
      if (!c.edge_tensors.count(name)) {
        predictions[name] = tensor;
      } else if (tensor.requires_grad()) {
        roots.push_back(tensor);
        grads.push_back(torch::ones_like(tensor));
      }
    }
    if (!predictions.empty()) {
      auto terms = c.loss(predictions, c.batch, nullptr);
      auto total = terms.find("loss");
      if (total != terms.end() && total->second.defined() && total->second.requires_grad()) {
        roots.push_back(total->second);
        grads.push_back(torch::ones_like(total->second));
      }
    }
    c.probe.sync();
    const double forward_seconds = since(start);
    // The output gradients stand for what the consumers would send back.
    std::int64_t grad_bytes = 0;
    for (const auto& g : grads) grad_bytes += g.nbytes();
    const std::int64_t kept = c.probe.current() - before - grad_bytes;
    start = Clock::now();
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    c.probe.sync();
    const double backward_seconds = since(start);
    std::int64_t gradients = 0;
    for (const auto& param : params) gradients += param.grad().defined() ? param.grad().nbytes() : 0;
    const std::int64_t peak = c.probe.peak() - before - gradients;
    if (run == 0) continue;
    forward.push_back(forward_seconds);
    backward.push_back(backward_seconds);
    p.kept_bytes = kept;
    p.workspace_bytes = std::max<std::int64_t>(0, peak - kept);
  }
  p.forward_seconds = fastest(forward);
  p.backward_seconds = fastest(backward);
  return p;
}

json cost_json(const UnitCost& c) {
  return {{"param_bytes", c.param_bytes},       {"activation_bytes", c.activation_bytes},
          {"attention_bytes", c.attention_bytes}, {"checkpoint_bytes", c.checkpoint_bytes},
          {"checkpoint_attention_bytes", c.checkpoint_attention_bytes},
          {"recompute_bytes", c.recompute_bytes}, {"recompute_attention_bytes", c.recompute_attention_bytes},
          {"forward_flops", c.forward_flops}, {"recompute_flops", c.recompute_flops}};
}

UnitCost cost_from_json(const json& j) {
  UnitCost c;
  c.param_bytes = j.at("param_bytes").get<std::int64_t>();
  c.activation_bytes = j.at("activation_bytes").get<std::int64_t>();
  c.attention_bytes = j.at("attention_bytes").get<std::int64_t>();
  c.checkpoint_bytes = j.at("checkpoint_bytes").get<std::int64_t>();
  c.checkpoint_attention_bytes = j.at("checkpoint_attention_bytes").get<std::int64_t>();
  c.recompute_bytes = j.at("recompute_bytes").get<std::int64_t>();
  c.recompute_attention_bytes = j.at("recompute_attention_bytes").get<std::int64_t>();
  c.forward_flops = j.at("forward_flops").get<double>();
  c.recompute_flops = j.at("recompute_flops").get<double>();
  return c;
}

std::string device_type(const std::string& device) { return device.substr(0, device.find(':')); }

}  // namespace

Profile measure(ModelInstance& model, const ModelGraph& graph, const TensorMap& batch, const runtime::LossFn& loss,
                const MemoryModel& memory, const ProfileOptions& options) {
  Probe probe(options.device);
  runtime::ScopedDevice attribution(Probe::kSlot);
  std::optional<runtime::WorkerShare> share;
  if (options.device.is_cpu()) share.emplace(options.workers);
  std::optional<compat::AutocastOn> autocast;
  if (options.autocast) autocast.emplace(options.device.type(), *options.autocast);
  model.module().to(options.device);
  TensorMap on_device;
  for (const auto& [name, tensor] : batch) on_device[name] = tensor.to(options.device);
  const auto& images = on_device.at("images");
  auto query = on_device.find("query");
  Context c{model, graph, on_device, loss, probe,
            {images.size(0), images.size(1), images.size(3), images.size(4),
             query == on_device.end() ? 0 : query->second.size(1)},
            {}, {}};
  for (const Edge& e : graph.edges) c.edge_tensors.insert(e.tensor);
  forward_all(c);
  Profile profile;
  profile.device = options.device.str();
  profile.shape = c.shape;
  profile.memory = memory;
  for (const Unit& unit : graph.units) {
    profile.units.push_back(measure_unit(c, unit, std::max(1, options.repeat)));
    if (options.progress) options.progress(profile.units.size(), graph.units.size());
  }
  runtime::clear_gradients(model.module().parameters());
  return profile;
}

namespace {

json checkpointing_json(const Checkpointing& c) {
  return {{"units", c.units}, {"global_only", c.global_only}, {"head_frames", c.head_frames}};
}

Checkpointing checkpointing_from_json(const json& j) {
  Checkpointing c;
  c.units = j.at("units").get<std::set<std::string>>();
  c.global_only = j.at("global_only").get<bool>();
  c.head_frames = j.at("head_frames").get<std::int64_t>();
  return c;
}

}  // namespace

json to_json(const Profile& profile) {
  json units = json::array();
  for (const UnitProfile& u : profile.units) {
    units.push_back({{"unit", u.unit}, {"forward_seconds", u.forward_seconds},
                     {"backward_seconds", u.backward_seconds}, {"kept_bytes", u.kept_bytes},
                     {"workspace_bytes", u.workspace_bytes}, {"analytic", cost_json(u.analytic)}});
  }
  const InputShape& s = profile.shape;
  return {{"format", "vggt-lab profile 2"},
          {"key", profile.key},
          {"device", profile.device},
          {"shape", {{"batch", s.batch}, {"frames", s.frames}, {"height", s.height}, {"width", s.width},
                     {"queries", s.queries}}},
          {"checkpointing", checkpointing_json(profile.memory.checkpointing)},
          {"fused_attention", profile.memory.fused_attention},
          {"units", units}};
}

Profile profile_from_json(const json& j, const std::string& where) {
  if (!j.is_object() || j.value("format", "") != "vggt-lab profile 2") {
    throw InputError(where + ": not a vggt-lab profile (expected \"format\": \"vggt-lab profile 2\"); "
                     "write one with `vggt-lab profile EXPERIMENT.toml --out FILE.json`");
  }
  try {
    Profile p;
    p.key = j.at("key").get<std::string>();
    p.device = j.at("device").get<std::string>();
    const json& s = j.at("shape");
    p.shape = {s.at("batch").get<std::int64_t>(), s.at("frames").get<std::int64_t>(),
               s.at("height").get<std::int64_t>(), s.at("width").get<std::int64_t>(),
               s.at("queries").get<std::int64_t>()};
    p.memory.checkpointing = checkpointing_from_json(j.at("checkpointing"));
    p.memory.fused_attention = j.at("fused_attention").get<bool>();
    for (const json& u : j.at("units")) {
      p.units.push_back({u.at("unit").get<std::string>(), u.at("forward_seconds").get<double>(),
                         u.at("backward_seconds").get<double>(), u.at("kept_bytes").get<std::int64_t>(),
                         u.at("workspace_bytes").get<std::int64_t>(), cost_from_json(u.at("analytic"))});
    }
    return p;
  } catch (const json::exception& e) {
    throw InputError(where + ": a damaged profile (" + std::string(e.what()) +
                     "); delete it and profile again with `vggt-lab profile`");
  }
}

Profile read_profile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string() + ": cannot read the profile; check the path");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) {
    throw InputError(file.string() + ": not valid JSON; write a profile with `vggt-lab profile ... --out FILE.json`");
  }
  return profile_from_json(j, file.string());
}

void write_profile(const Profile& profile, const std::filesystem::path& file) {
  write_file_atomic(file, to_json(profile).dump(2) + "\n");
}

ModelGraph with_measured_costs(ModelGraph graph, const Profile& profile) {
  std::map<std::string, const UnitProfile*> measured;
  for (const UnitProfile& u : profile.units) measured[u.unit] = &u;
  for (Unit& unit : graph.units) {
    auto it = measured.find(unit.name);
    if (it == measured.end()) {
      throw Error("the profile has no unit '" + unit.name + "'; it was made for another model (key: " + profile.key + ")");
    }
    const UnitProfile& m = *it->second;
    UnitCost& c = unit.cost;
    c.activation_bytes = c.checkpoint_bytes = m.kept_bytes;
    c.attention_bytes = c.recompute_bytes = c.recompute_attention_bytes = 0;  // measured with the run's settings
    c.workspace_bytes = m.workspace_bytes;
    c.forward_seconds = m.forward_seconds;
    c.backward_seconds = m.backward_seconds;
  }
  return graph;
}

std::string unit_kind(const std::string& unit) {
  auto dot = unit.find('.');
  return dot == std::string::npos ? unit : unit.substr(0, dot);
}

Calibration calibrate(const Profile& profile) {
  struct Sums {
    double kept = 0, analytic_kept = 0, workspace = 0, analytic_activations = 0, forward = 0, backward = 0, flops = 0;
  };
  std::map<std::string, Sums> sums;
  for (const UnitProfile& u : profile.units) {
    Sums& s = sums[unit_kind(u.unit)];
    s.kept += double(u.kept_bytes);
    s.analytic_kept += double(unit_activations({u.unit, u.analytic}, profile.memory));
    s.workspace += double(u.workspace_bytes);
    s.analytic_activations += double(u.analytic.activation_bytes);
    s.forward += u.forward_seconds;
    // Backward without the recomputation a checkpointed profile includes.
    s.backward += u.backward_seconds - (profile.memory.checkpointing.on(u.unit) ? u.forward_seconds : 0.0);
    s.flops += u.analytic.forward_flops;
  }
  Calibration calibration;
  calibration.device = profile.device;
  calibration.checkpointing = profile.memory.checkpointing;
  for (const auto& [kind, s] : sums) {
    Factors f;
    if (s.analytic_kept > 0) f.kept = s.kept / s.analytic_kept;
    if (s.analytic_activations > 0) f.workspace = s.workspace / s.analytic_activations;
    if (s.flops > 0) f.forward_seconds_per_flop = s.forward / s.flops;
    if (s.forward > 0) f.backward_over_forward = std::max(0.0, s.backward / s.forward);
    calibration.kinds[kind] = f;
  }
  return calibration;
}

ModelGraph calibrated(ModelGraph graph, const Calibration& calibration, const std::string& device,
                      const MemoryModel& memory) {
  const bool same_device = device_type(device) == device_type(calibration.device);
  for (Unit& unit : graph.units) {
    auto it = calibration.kinds.find(unit_kind(unit.name));
    if (it == calibration.kinds.end()) continue;
    const Factors& f = it->second;
    UnitCost& c = unit.cost;
    const double activations = double(c.activation_bytes);
    auto scale = [&](std::int64_t& bytes) { bytes = std::int64_t(double(bytes) * f.kept); };
    scale(c.activation_bytes);
    scale(c.attention_bytes);
    scale(c.checkpoint_bytes);
    // A checkpointed profile measured the recomputation in its workspace.
    if (calibration.checkpointing.on(unit.name)) {
      c.recompute_bytes = c.recompute_attention_bytes = 0;
    } else {
      scale(c.recompute_bytes);
      scale(c.recompute_attention_bytes);
    }
    c.workspace_bytes = std::int64_t(activations * f.workspace);
    if (same_device && f.forward_seconds_per_flop > 0) {
      c.forward_seconds = c.forward_flops * f.forward_seconds_per_flop;
      c.backward_seconds = c.forward_seconds * (f.backward_over_forward + (memory.checkpointing.on(unit.name) ? 1.0 : 0.0));
    }
  }
  return graph;
}

std::filesystem::path default_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return std::filesystem::path(xdg) / "vggt-lab" / "profiles";
  }
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/tmp") / ".cache" / "vggt-lab" / "profiles";
}

std::filesystem::path cache_file(const std::filesystem::path& cache, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof name, "%016zx.json", std::hash<std::string>{}(key));
  return cache / name;
}

}  // namespace vggt_lab::profile
