#include "plan/planning.hpp"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "host/suggest.hpp"
#include "plan/actions_json.hpp"
#include "vggt_lab/compat.hpp"

namespace vggt_lab {
namespace {

constexpr double kCpuFlops = 2e10, kGpuFlops = 2e14;
constexpr double kCpuBandwidth = 1e10, kGpuBandwidth = 2.5e10;

std::string physical_of(const std::string& mode, int index, int count) {
  const int gpus = compat::cuda_device_count();
  if (mode == "cpu") return "cpu";
  if (mode == "cuda") return "cuda:" + std::to_string(gpus > 0 ? index % gpus : index);
  if (gpus >= count) return "cuda:" + std::to_string(index);
  return gpus > 0 ? "cuda:" + std::to_string(index % gpus) : "cpu";
}

std::int64_t capacity_of(const std::string& text, const std::string& physical, int sharing) {
  if (text != "auto") return *parse_bytes(text);
  return physical_memory(physical) / std::max(1, sharing);
}

std::string seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, s < 10 ? "%.3g s" : "%.1f s", s);
  return text;
}

std::string unit_list(const std::vector<std::string>& units) {
  // "block.0..block.9" for runs of numbered units.
  std::string out;
  for (std::size_t i = 0; i < units.size();) {
    std::size_t j = i;
    auto numbered = [](const std::string& u) { return u.rfind("block.", 0) == 0; };
    while (j + 1 < units.size() && numbered(units[i]) && numbered(units[j + 1]) &&
           std::stoi(units[j + 1].substr(6)) == std::stoi(units[j].substr(6)) + 1) {
      ++j;
    }
    out += (out.empty() ? "" : ", ") + units[i] + (j > i ? ".." + units[j] : "");
    i = j + 1;
  }
  return out;
}

}  // namespace

std::int64_t physical_memory(const std::string& physical) {
  if (physical == "cpu") return std::int64_t(sysconf(_SC_PHYS_PAGES)) * std::int64_t(sysconf(_SC_PAGE_SIZE));
  return std::max<std::int64_t>(0, compat::cuda_total_memory(std::stoi(physical.substr(5))));
}

bool glob_match(const std::string& pattern, const std::string& name) {
  std::size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Topology make_topology(const Options& devices, const TopologyOverrides& overrides) {
  const int count = overrides.devices ? *overrides.devices : int(devices.get<std::int64_t>("count"));
  const std::string mode = devices.get<std::string>("physical");
  const auto& memories = devices.get<std::vector<std::string>>("memories");
  std::map<std::string, int> sharing;
  std::vector<std::string> physical;
  for (int i = 0; i < count; ++i) {
    physical.push_back(physical_of(mode, i, count));
    ++sharing[physical.back()];
  }
  Topology topology;
  bool gpu = false;
  for (int i = 0; i < count; ++i) {
    std::string memory = i < int(memories.size()) ? memories[i] : devices.get<std::string>("memory");
    std::int64_t capacity = overrides.memory ? *overrides.memory : capacity_of(memory, physical[i], sharing[physical[i]]);
    bool cuda = physical[i] != "cpu";
    gpu = gpu || cuda;
    double flops = devices.get<double>("flops");
    topology.devices.push_back({i, physical[i], capacity, flops > 0 ? flops : (cuda ? kGpuFlops : kCpuFlops)});
  }
  const std::string bandwidth = devices.get<std::string>("bandwidth");
  topology.link_bandwidth = bandwidth == "auto" ? (gpu ? kGpuBandwidth : kCpuBandwidth) : double(*parse_bytes(bandwidth));
  return topology;
}

InputShape step_shape(const Options& train) {
  return {train.get<std::int64_t>("batch_size"), train.get<std::int64_t>("frames"),
          train.get<std::int64_t>("image_height"), train.get<std::int64_t>("image_width"),
          train.get<std::int64_t>("track_queries")};
}

std::vector<std::string> checkpointing_globs(const std::string& choice) {
  if (choice == "none") return {};
  if (choice == "trunk") return {"embed", "block.*"};
  if (choice == "global") return {"block.*"};
  if (choice == "all") return {"*"};
  std::vector<std::string> globs;
  std::stringstream list(choice);
  for (std::string glob; std::getline(list, glob, ',');) {
    glob.erase(0, glob.find_first_not_of(' '));
    glob.erase(glob.find_last_not_of(' ') + 1);
    if (!glob.empty()) globs.push_back(glob);
  }
  return globs;
}

Checkpointing resolve_checkpointing(const Options& train, const Model& model) {
  const std::string choice = train.get<std::string>("checkpointing");
  Checkpointing c;
  c.global_only = choice == "global";
  c.head_frames = train.get<std::int64_t>("head_checkpoint_frames");
  std::vector<std::string> names;
  for (const Unit& unit : model.graph(InputShape{}).units) names.push_back(unit.name);
  for (const std::string& glob : checkpointing_globs(choice)) {
    bool matched = false;
    for (const auto& name : names) {
      if (!glob_match(glob, name)) continue;
      c.units.insert(name);
      matched = true;
    }
    if (!matched) {
      throw InputError("[train] checkpointing: '" + glob + "' names no unit of the model; its units are " +
                       unit_list(names) + " (or use none, trunk, global, all)");
    }
  }
  if (c.head_frames > 0) {
    for (const auto& name : names) {
      if (name == "depth_head" || name == "point_head" || name == "track_head") c.units.insert(name);
    }
  }
  return c;
}

std::string checkpointing_text(const Checkpointing& c) {
  if (c.units.empty()) return "none";
  std::vector<std::string> units(c.units.begin(), c.units.end());
  auto number = [](const std::string& u) { return u.rfind("block.", 0) == 0 ? std::stoi(u.substr(6)) : -1; };
  std::sort(units.begin(), units.end(), [&](const auto& a, const auto& b) {
    return std::make_pair(number(a), a) < std::make_pair(number(b), b);
  });
  std::string text = unit_list(units);
  if (c.global_only) text += " (global attention only)";
  if (c.head_frames > 0) text += ", heads by " + std::to_string(c.head_frames) + " frames";
  return text;
}

bool resolve_fused_attention(const Options& train) { return train.get<std::string>("fused_attention") != "off"; }

MemoryModel memory_model(const Options& train, const Model& model) {
  MemoryModel memory;
  memory.checkpointing = resolve_checkpointing(train, model);
  memory.fused_attention = resolve_fused_attention(train);
  const auto& frozen = train.get<std::vector<std::string>>("frozen");
  if (frozen.empty()) return memory;
  std::map<std::string, bool> all_frozen;
  for (const TensorSpec& t : model.state_dict_spec()) {
    bool match = std::any_of(frozen.begin(), frozen.end(), [&](const auto& g) { return glob_match(g, t.name); });
    auto unit = model.unit_of(t.name);
    all_frozen[unit] = all_frozen.count(unit) ? all_frozen[unit] && match : match;
  }
  for (const auto& [unit, is_frozen] : all_frozen) {
    if (is_frozen) memory.frozen_units.insert(unit);
  }
  return memory;
}

PlanReport make_plan(const PluginObject<Model>& model, const PluginObject<Placement>& placement,
                     const Topology& topology, const InputShape& shape, const MemoryModel& memory) {
  return make_plan(model.call([&](Model& m) { return m.graph(shape, memory.checkpointing); }), placement, topology,
                   shape, memory);
}

PlanReport make_plan(ModelGraph graph, const PluginObject<Placement>& placement, const Topology& topology,
                     const InputShape& shape, const MemoryModel& memory) {
  PlanReport report;
  report.topology = topology;
  report.memory = memory;
  report.shape = shape;
  report.graph = std::move(graph);
  report.plan = placement.call([&](Placement& p) { return p.place({report.graph, topology, memory}); });
  if (auto invalid = check_plan(report.graph, topology, report.plan); !invalid.empty()) {
    std::string list;
    for (const auto& problem : invalid) list += "\n  " + problem;
    throw InputError(placement.origin.describe() + " returned an invalid plan:" + list +
                     "\nfix the plugin or its options, or choose another [placement]");
  }
  // A batch smaller than the micro-batch count runs as that many (never an
  // empty one); a custom schedule's later micro-batches are left out.
  report.plan.micro_batches =
      int(std::min<std::int64_t>(report.plan.micro_batches, std::max<std::int64_t>(1, shape.batch)));
  report.predicted = predicted_memory(report.graph, topology, report.plan, memory);
  for (std::size_t d = 0; d < topology.devices.size(); ++d) {
    std::int64_t need = report.predicted[d].total(), have = topology.devices[d].capacity_bytes;
    if (have > 0 && need > have) {
      report.problems.push_back("device " + std::to_string(d) + " (" + topology.devices[d].physical +
                                ") needs " + format_bytes(need) + " but has " + format_bytes(have));
    }
  }
  report.processors = shared_processors(topology, process_cores());
  report.timeline = simulate(
      report.graph, report.plan, [&](int s, Pass pass) { return predicted_seconds(report, s, pass); },
      [&](int from, int to) {
        const auto& plan = report.plan;
        if (plan.stages[from].device == plan.stages[to].device || topology.link_bandwidth <= 0) return 0.0;
        std::set<std::string> units_from(plan.stages[from].units.begin(), plan.stages[from].units.end());
        std::set<std::string> units_to(plan.stages[to].units.begin(), plan.stages[to].units.end());
        std::set<std::string> tensors;
        double bytes = 0;
        for (const Edge& e : report.graph.edges) {
          if (units_from.count(e.from) && units_to.count(e.to) && tensors.insert(e.tensor).second) bytes += e.bytes;
        }
        return bytes / std::max(1, plan.micro_batches) / topology.link_bandwidth;
      },
      report.processors);
  return report;
}

namespace {

/// Seconds one device of a stage spends on a pass of the whole batch, `share`
/// its part of the frames (1: unsharded): measured unit times when the costs
/// have them, else flops over its speed (backward: 2x forward, +1x with
/// checkpointing), plus gathering the others' keys and values over the link.
double device_seconds(const PlanReport& report, const Stage& s, int device, double share, Pass pass) {
  double flops = 0, measured = 0, gathered = 0;  // flops to predict, seconds measured, bytes gathered
  const bool backward = pass == Pass::backward;
  for (const auto& unit : s.units) {
    const Unit& u = report.graph.units[report.graph.index_of(unit)];
    if (backward && report.memory.frozen_units.count(unit)) continue;
    const double part = u.split == FrameSplit::whole ? 1.0 : share;
    if (u.split == FrameSplit::global) gathered += double(u.cost.gathered_bytes) * (1.0 - share);
    if (u.cost.forward_seconds > 0) {
      measured += part * (backward ? u.cost.backward_seconds : u.cost.forward_seconds);
      continue;
    }
    flops += part * (backward ? 2.0 * u.cost.forward_flops +
                                    (report.memory.checkpointing.on(unit) ? u.cost.recompute_flops : 0.0)
                              : u.cost.forward_flops);
  }
  const double speed = report.topology.devices[device].flops, link = report.topology.link_bandwidth;
  return (speed > 0 ? flops / speed : 0.0) + measured + (link > 0 ? gathered / link : 0.0);
}

/// How many times slower a frame group's devices run for sharing processors
/// with too few lanes for all of them at once.
double lane_slowdown(const Processors& processors, const std::vector<int>& devices) {
  std::map<int, int> sharing;
  for (int device : devices) ++sharing[processors.of.at(device)];
  double slowdown = 1;
  for (const auto& [processor, count] : sharing) {
    const int lanes = std::max(1, processors.lanes.at(processor));
    slowdown = std::max(slowdown, double((count + lanes - 1) / lanes));
  }
  return slowdown;
}

}  // namespace

double predicted_seconds(const PlanReport& report, int stage, Pass pass) {
  const Stage& s = report.plan.stages[stage];
  const std::vector<int> devices = stage_devices(s);
  const std::vector<std::int64_t> shards = frame_shards(report.graph.frames, int(devices.size()));
  const double frames = double(std::max<std::int64_t>(1, report.graph.frames));
  double slowest = 0;
  for (std::size_t k = 0; k < devices.size(); ++k) {
    const double share = devices.size() > 1 ? double(shards[k]) / frames : 1.0;
    slowest = std::max(slowest, device_seconds(report, s, devices[k], share, pass));
  }
  const double slowdown = devices.size() > 1 ? lane_slowdown(report.processors, devices) : 1.0;
  return slowest * slowdown / std::max(1, report.plan.micro_batches);
}

namespace {

/// The units a device runs, alone or in a frame group.
std::vector<std::string> device_units(const Plan& plan, int device) {
  std::vector<std::string> units;
  for (const Stage& s : plan.stages) {
    const auto devices = stage_devices(s);
    if (std::count(devices.begin(), devices.end(), device)) units.insert(units.end(), s.units.begin(), s.units.end());
  }
  return units;
}

/// " (frames 3-5 of 8, sharded with devices 0, 2)" for each frame-sharded
/// stage the device is in.
std::string shards_text(const PlanReport& report, int device) {
  std::string out;
  for (const Stage& s : report.plan.stages) {
    const auto devices = stage_devices(s);
    const auto shards = frame_shards(report.graph.frames, int(devices.size()));
    std::int64_t first = 0;
    std::vector<std::string> others;
    std::string own;
    for (std::size_t k = 0; k < devices.size(); ++k) {
      if (devices[k] == device) {
        own = shards[k] == 0 ? "no frames" : "frames " + std::to_string(first) + "-" +
                                                   std::to_string(first + shards[k] - 1);
      } else {
        others.push_back(std::to_string(devices[k]));
      }
      first += shards[k];
    }
    if (devices.size() > 1 && !own.empty()) {
      out += " (" + own + " of " + std::to_string(report.graph.frames) + ", sharded with device" +
             (others.size() > 1 ? "s " : " ") + join(others, ", ") + ")";
    }
  }
  return out;
}

}  // namespace

std::string plan_json(const PlanReport& report) {
  nlohmann::ordered_json out;
  out["strategy"] = report.plan.strategy;
  out["schedule"] = report.plan.schedule;
  out["micro_batches"] = report.plan.micro_batches;
  out["input"] = {{"batch", report.shape.batch}, {"frames", report.shape.frames},
                  {"height", report.shape.height}, {"width", report.shape.width},
                  {"queries", report.shape.queries}};
  out["checkpointing"] = checkpointing_text(report.memory.checkpointing);
  out["fits"] = report.fits();
  out["problems"] = report.problems;
  out["predicted_step_seconds"] = report.timeline.makespan;
  out["costs"] = report.costs;
  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  for (const Stage& s : report.plan.stages) {
    stages.push_back({{"device", s.device}, {"units", s.units}, {"frame_group", s.frame_group}});
  }
  out["stages"] = stages;
  nlohmann::ordered_json devices = nlohmann::ordered_json::array();
  for (std::size_t d = 0; d < report.topology.devices.size(); ++d) {
    const auto& device = report.topology.devices[d];
    const std::vector<std::string> units = device_units(report.plan, int(d));
    DeviceMemory m = d < report.predicted.size() ? report.predicted[d] : DeviceMemory{};
    devices.push_back({{"index", d},
                       {"physical", device.physical},
                       {"capacity_bytes", device.capacity_bytes},
                       {"units", units},
                       {"predicted_peak_bytes", m.total()},
                       {"peak_unit", m.peak_unit},
                       {"parameters_bytes", m.parameters},
                       {"gradients_bytes", m.gradients},
                       {"optimizer_bytes", m.optimizer},
                       {"activations_bytes", m.activations},
                       {"workspace_bytes", m.workspace},
                       {"buffers_bytes", m.buffers},
                       {"predicted_busy_seconds", d < report.timeline.busy.size() ? report.timeline.busy[d] : 0.0},
                       {"predicted_bubble", report.timeline.bubble(int(d))}});
  }
  out["devices"] = devices;
  out["predicted_timeline"] = actions_json(report.timeline.actions);
  return out.dump(2);
}

namespace {

/// A line per physical device that several logical devices share: how many
/// of their actions the time prediction lets it run at once.
std::string sharing_text(const PlanReport& report) {
  const Processors& p = report.processors;
  std::string out;
  for (std::size_t id = 0; id < p.lanes.size(); ++id) {
    std::vector<std::string> sharing;
    std::string physical;
    for (std::size_t d = 0; d < p.of.size(); ++d) {
      if (p.of[d] != int(id)) continue;
      sharing.push_back(std::to_string(d));
      physical = report.topology.devices[d].physical;
    }
    if (sharing.size() < 2) continue;
    out += "shared: devices " + join(sharing, ", ") + " on " + physical + " run " +
           (p.lanes[id] == 1 ? std::string("one at a time") : std::to_string(p.lanes[id]) + " at a time") +
           (physical == "cpu" ? " (" + std::to_string(worker_threads(process_cores(), int(sharing.size()))) +
                                    " intra-op thread(s) each)"
                              : std::string()) +
           "\n";
  }
  return out;
}

}  // namespace

std::string plan_text(const PlanReport& report) {
  std::ostringstream out;
  const auto& p = report.plan;
  out << "plan: " << p.strategy << " on " << report.topology.devices.size() << " logical device(s), "
      << p.schedule << " schedule, " << p.micro_batches << " micro-batch(es)\n"
      << "step: " << report.shape.batch << " scene(s) x " << report.shape.frames << " frames of "
      << report.shape.height << "x" << report.shape.width
      << (report.shape.queries ? ", " + std::to_string(report.shape.queries) + " track queries" : "") << "\n"
      << "checkpointing: " << checkpointing_text(report.memory.checkpointing) << "\n"
      << "unit costs: " << report.costs << "\n"
      << sharing_text(report);
  for (std::size_t d = 0; d < report.topology.devices.size(); ++d) {
    const auto& device = report.topology.devices[d];
    const std::vector<std::string> units = device_units(p, int(d));
    out << "\ndevice " << d << " (" << device.physical << ", "
        << (device.capacity_bytes > 0 ? format_bytes(device.capacity_bytes) : std::string("unlimited"))
        << "): " << (units.empty() ? std::string("idle") : unit_list(units)) << shards_text(report, int(d)) << "\n";
    if (d >= report.predicted.size()) continue;
    const DeviceMemory& m = report.predicted[d];
    out << "  at its peak: parameters " << format_bytes(m.parameters) << ", gradients " << format_bytes(m.gradients)
        << ", optimizer " << format_bytes(m.optimizer) << ", activations " << format_bytes(m.activations)
        << ", workspace " << format_bytes(m.workspace) << ", buffers " << format_bytes(m.buffers) << "\n"
        << "  predicted peak " << format_bytes(m.total())
        << (m.peak_unit.empty() ? std::string() : " in " + m.peak_unit + "'s backward");
    if (device.capacity_bytes > 0) {
      out << " (" << int(100.0 * double(m.total()) / double(device.capacity_bytes) + 0.5) << "% of capacity)";
    }
    out << ", busy " << seconds(d < report.timeline.busy.size() ? report.timeline.busy[d] : 0.0) << ", bubble "
        << int(100.0 * report.timeline.bubble(int(d)) + 0.5) << "%\n";
  }
  out << "\npredicted step time " << seconds(report.timeline.makespan) << "\n";
  for (const auto& problem : report.problems) out << "does not fit: " << problem << "\n";
  return out.str();
}

}  // namespace vggt_lab
