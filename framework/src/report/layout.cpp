#include "report/layout.hpp"

#include <algorithm>
#include <set>

#include "report/svg.hpp"

namespace vggt_lab::report {
namespace {

/// "block.3" -> "3", "depth_head" -> "depth", "embed" -> "embed".
std::string short_name(const std::string& unit) {
  if (unit.rfind("block.", 0) == 0) return unit.substr(6);
  const auto head = unit.find("_head");
  return head == std::string::npos ? unit : unit.substr(0, head);
}

std::string devices_text(const Stage& stage) {
  const std::vector<int> devices = stage_devices(stage);
  if (devices.size() == 1) return "device " + std::to_string(devices[0]);
  std::string text = "devices";
  for (int d : devices) text += " " + std::to_string(d);
  return text + " (frames sharded)";
}

/// Units that feed others in a row in graph order, the others (heads) below.
std::string units_chart(const PlanReport& r) {
  std::set<std::string> producers;
  for (const Edge& e : r.graph.edges) producers.insert(e.from);
  const auto stage_of = unit_stages(r.plan);
  std::vector<Node> nodes;
  int trunk = 0, heads = 0;
  for (const Unit& u : r.graph.units) (producers.count(u.name) ? trunk : heads)++;
  int t = 0, h = 0;
  for (const Unit& u : r.graph.units) {
    const Stage& stage = r.plan.stages.at(stage_of.at(u.name));
    const bool head = !producers.count(u.name);
    const double column = head ? (h++ + 0.5) * std::max(trunk, heads) / heads - 0.5 : t++;
    nodes.push_back({short_name(u.name),
                     u.name + " on " + devices_text(stage) + ": " + format_bytes(unit_memory(u, r.memory)) +
                         " with state and activations, " + std::to_string(int(u.cost.forward_flops / 1e9)) +
                         " GFLOP forward",
                     head ? 1 : 0, column, stage.device});
  }
  std::vector<Link> links;
  std::set<std::pair<int, int>> seen;
  for (const Edge& e : r.graph.edges) {
    const int from = r.graph.index_of(e.from), to = r.graph.index_of(e.to);
    if (from >= 0 && to >= 0 && seen.emplace(from, to).second) links.push_back({from, to});
  }
  std::vector<std::string> legend;
  for (std::size_t d = 0; d < r.topology.devices.size(); ++d) legend.push_back("device " + std::to_string(d));
  return graph_chart(r.plan.strategy + ": units by device (hover for each one's cost)", nodes, links, legend);
}

std::string memory_bars(const PlanReport& r) {
  double largest = 0;
  for (const DeviceMemory& m : r.predicted) largest = std::max(largest, double(m.total()));
  const ByteUnit unit = byte_unit(largest);
  std::vector<Bar> bars;
  for (std::size_t d = 0; d < r.predicted.size(); ++d) {
    const DeviceMemory& m = r.predicted[d];
    Bar bar{"device " + std::to_string(d), {}, double(r.topology.devices[d].capacity_bytes) / unit.bytes};
    for (std::int64_t part : {m.parameters, m.gradients, m.optimizer, m.activations, m.workspace, m.buffers}) {
      bar.parts.push_back(double(part) / unit.bytes);
    }
    bars.push_back(bar);
  }
  return bar_chart("Predicted peak memory per device", unit.name,
                   {"parameters", "gradients", "optimizer", "activations", "workspace", "buffers"}, bars);
}

std::string schedule_gantt(const PlanReport& r) {
  std::vector<std::string> rows;
  for (std::size_t d = 0; d < r.topology.devices.size(); ++d) rows.push_back("device " + std::to_string(d));
  std::vector<Span> spans;
  for (const TimedAction& a : r.timeline.actions) {
    const auto& units = r.plan.stages[a.action.stage].units;
    const std::string what = units.empty() ? "" : units.front() + (units.size() > 1 ? ".." + units.back() : "");
    const bool backward = a.action.pass == Pass::backward;
    spans.push_back({a.device, a.start, a.end,
                     std::string(backward ? "backward" : "forward") + " of stage " + std::to_string(a.action.stage) +
                         " (" + what + "), micro-batch " + std::to_string(a.action.micro_batch),
                     backward, true});
  }
  return timeline(r.plan.schedule + " schedule, " + std::to_string(r.plan.micro_batches) +
                      " micro-batch(es): predicted step",
                  rows, spans);
}

}  // namespace

std::string layout_picture(const PlanReport& report) {
  return stacked({units_chart(report), memory_bars(report), schedule_gantt(report)});
}

}  // namespace vggt_lab::report
