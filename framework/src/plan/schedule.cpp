#include "vggt_lab/schedule.hpp"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "host/child.hpp"
#include "host/launcher.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab {
namespace {

std::vector<Action> sequential(int stage, int m, int, int) {
  std::vector<Action> out;
  for (int mb = 0; mb < m; ++mb) {
    out.push_back({stage, Pass::forward, mb});
    out.push_back({stage, Pass::backward, mb});
  }
  return out;
}

std::vector<Action> gpipe(int stage, int m, int, int) {
  std::vector<Action> out;
  for (int mb = 0; mb < m; ++mb) out.push_back({stage, Pass::forward, mb});
  for (int mb = m - 1; mb >= 0; --mb) out.push_back({stage, Pass::backward, mb});
  return out;
}

/// Warm-up forwards, then one forward one backward, then the remaining backwards.
std::vector<Action> one_f_one_b(int stage, int m, int depth, int pipeline) {
  int warmup = std::min(pipeline - depth - 1, m);
  std::vector<Action> out;
  int forward = 0, backward = 0;
  for (; forward < warmup; ++forward) out.push_back({stage, Pass::forward, forward});
  while (forward < m) {
    out.push_back({stage, Pass::forward, forward++});
    out.push_back({stage, Pass::backward, backward++});
  }
  while (backward < m) out.push_back({stage, Pass::backward, backward++});
  return out;
}

using Generator = std::vector<Action> (*)(int stage, int micro_batches, int depth, int pipeline_depth);

/// The one table of schedules: every user of a schedule name goes through it.
const std::map<std::string, Generator>& schedule_table() {
  static const std::map<std::string, Generator> table = {
      {"sequential", sequential}, {"gpipe", gpipe}, {"1f1b", one_f_one_b}};
  return table;
}

}  // namespace

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, generator] : schedule_table()) out.push_back(name);
    return out;
  }();
  return names;
}

std::vector<Action> stage_sequence(const std::string& schedule, int stage, int micro_batches, int depth,
                                   int pipeline_depth) {
  auto it = schedule_table().find(schedule);
  if (it == schedule_table().end()) throw Error("unknown schedule '" + schedule + "'");
  return it->second(stage, std::max(1, micro_batches), depth, pipeline_depth);
}

double Timeline::bubble(int device) const {
  if (makespan <= 0 || device < 0 || device >= int(busy.size())) return 0;
  return 1.0 - busy[device] / makespan;
}

std::vector<Action> Timeline::device_order(int device) const {
  std::vector<Action> out;
  for (const TimedAction& a : actions) {
    if (a.device == device) out.push_back(a.action);
  }
  return out;
}

std::vector<std::vector<Action>> action_queues(const Plan& plan, const std::vector<int>& depths) {
  const int m = std::max(1, plan.micro_batches);
  std::vector<std::vector<Action>> out;
  if (plan.schedule == "custom") {
    for (const auto& actions : plan.device_actions) {
      auto& queue = out.emplace_back();
      std::copy_if(actions.begin(), actions.end(), std::back_inserter(queue),
                   [&](const Action& a) { return a.micro_batch < m; });
    }
    return out;
  }
  const int pipeline = depths.empty() ? 1 : 1 + *std::max_element(depths.begin(), depths.end());
  for (int s = 0; s < int(plan.stages.size()); ++s) {
    out.push_back(stage_sequence(plan.schedule, s, m, depths[s], pipeline));
  }
  return out;
}

std::vector<std::vector<int>> stage_producers(const ModelGraph& graph, const Plan& plan) {
  const std::map<std::string, int> stage_of = unit_stages(plan);
  std::vector<std::set<int>> producers(plan.stages.size());
  for (const Edge& edge : graph.edges) {
    auto from = stage_of.find(edge.from), to = stage_of.find(edge.to);
    if (from != stage_of.end() && to != stage_of.end() && from->second != to->second) {
      producers[to->second].insert(from->second);
    }
  }
  std::vector<std::vector<int>> out;
  for (const auto& set : producers) out.emplace_back(set.begin(), set.end());
  return out;
}

Processors Processors::separate(int devices) {
  Processors out;
  for (int d = 0; d < devices; ++d) {
    out.of.push_back(d);
    out.lanes.push_back(1);
  }
  return out;
}

int worker_threads(int cores, int workers) { return std::max(1, cores / std::max(1, workers)); }

namespace {

std::optional<int> positive_env(const char* name) {
  const char* text = std::getenv(name);
  if (!text) return std::nullopt;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value <= 0) return std::nullopt;
  return int(value);
}

}  // namespace

int process_cores() {
  if (auto cores = positive_env("VGGT_LAB_CORES")) return *cores;
  int cores = int(std::thread::hardware_concurrency());
  const int allowed = int(allowed_cpus().size());  // fewer when bound (taskset, numactl, a container's cpuset)
  if (allowed > 0) cores = std::min(cores, allowed);
  return std::max(1, cores / ranks_on_this_host());
}

Processors shared_processors(const Topology& topology, int cores) {
  std::map<std::string, int> ids;
  std::vector<int> sharing;
  Processors out;
  for (const LogicalDevice& device : topology.devices) {
    auto [it, added] = ids.emplace(device.physical, int(ids.size()));
    if (added) sharing.push_back(0);
    ++sharing[it->second];
    out.of.push_back(it->second);
  }
  out.lanes.assign(ids.size(), 1);
  for (const auto& [physical, id] : ids) {
    if (physical == "cpu") out.lanes[id] = std::max(1, cores / worker_threads(cores, sharing[id]));
  }
  return out;
}

namespace {

int device_count(const Plan& plan) {
  int devices = 0;
  for (const Stage& stage : plan.stages) {
    for (int device : stage_devices(stage)) devices = std::max(devices, device + 1);
  }
  return devices;
}

/// When each device, and each lane of each processor, is next free. An
/// action of a frame-sharded stage takes all its devices at once, and a lane
/// of each one's processor.
class Occupancy {
 public:
  Occupancy(int devices, const Processors& processors) : device_free_(devices, 0.0), processors_(processors) {
    for (int lanes : processors.lanes) lane_free_.emplace_back(std::max(1, lanes), 0.0);
  }
  double free_at(const std::vector<int>& devices) const {
    double at = 0;
    for (const auto& [processor, needed] : lanes_needed(devices)) {
      std::vector<double> lanes = lane_free_.at(processor);
      std::sort(lanes.begin(), lanes.end());
      at = std::max(at, lanes.at(std::min(needed, lanes.size()) - 1));
    }
    for (int device : devices) at = std::max(at, device_free_.at(device));
    return at;
  }
  void take(const std::vector<int>& devices, double until) {
    for (const auto& [processor, needed] : lanes_needed(devices)) {
      auto& lanes = lane_free_.at(processor);
      std::sort(lanes.begin(), lanes.end());
      std::fill_n(lanes.begin(), std::min(needed, lanes.size()), until);
    }
    for (int device : devices) device_free_.at(device) = until;
  }

 private:
  std::map<int, std::size_t> lanes_needed(const std::vector<int>& devices) const {
    std::map<int, std::size_t> needed;
    for (int device : devices) ++needed[processors_.of.at(device)];
    return needed;
  }
  std::vector<double> device_free_;
  std::vector<std::vector<double>> lane_free_;
  const Processors& processors_;
};

}  // namespace

Timeline simulate(const ModelGraph& graph, const Plan& plan, const Duration& duration,
                  const TransferTime& transfer) {
  return simulate(graph, plan, duration, transfer, Processors::separate(device_count(plan)));
}

Timeline simulate(const ModelGraph& graph, const Plan& plan, const Duration& duration,
                  const TransferTime& transfer, const Processors& processors) {
  const int stages = int(plan.stages.size());
  const auto producers = stage_producers(graph, plan);
  std::vector<std::vector<int>> consumers(stages);
  for (int s = 0; s < stages; ++s) {
    for (int p : producers[s]) consumers[p].push_back(s);
  }
  const auto queues = action_queues(plan, stage_depths(graph, plan));
  const int devices = device_count(plan);
  std::map<std::tuple<int, int, int>, double> done;  // (stage, pass, mb) -> end time
  auto finished = [&](int s, Pass pass, int mb) {
    auto it = done.find({s, int(pass), mb});
    return it == done.end() ? -1.0 : it->second;
  };
  // When its inputs are there, or -1 if some have not been computed yet.
  auto ready_at = [&](const Action& a) {
    double ready = 0;
    if (a.pass == Pass::backward) {
      double own = finished(a.stage, Pass::forward, a.micro_batch);
      if (own < 0) return -1.0;
      ready = own;
    }
    const auto& others = a.pass == Pass::forward ? producers[a.stage] : consumers[a.stage];
    for (int other : others) {
      double end = finished(other, a.pass, a.micro_batch);
      if (end < 0) return -1.0;
      double moved = a.pass == Pass::forward ? transfer(other, a.stage) : transfer(a.stage, other);
      ready = std::max(ready, end + moved);
    }
    return ready;
  };
  std::vector<std::size_t> next(queues.size(), 0);
  Occupancy occupancy(devices, processors);
  Timeline timeline;
  timeline.busy.assign(devices, 0);
  std::size_t remaining = 0;
  for (const auto& queue : queues) remaining += queue.size();
  while (remaining > 0) {
    int best = -1;
    double best_start = std::numeric_limits<double>::infinity();
    for (int q = 0; q < int(queues.size()); ++q) {  // the action that can start first; ties go to lower queues
      if (next[q] >= queues[q].size()) continue;
      const Action& a = queues[q][next[q]];
      double ready = ready_at(a);
      if (ready < 0) continue;
      double start = std::max(ready, occupancy.free_at(stage_devices(plan.stages[a.stage])));
      if (start < best_start) {
        best_start = start;
        best = q;
      }
    }
    if (best < 0) throw Error("the " + plan.schedule + " schedule of this plan cannot run: its stages wait on each other");
    const Action& a = queues[best][next[best]++];
    const std::vector<int> members = stage_devices(plan.stages[a.stage]);
    double end = best_start + duration(a.stage, a.pass);
    done[{a.stage, int(a.pass), a.micro_batch}] = end;
    occupancy.take(members, end);
    for (int device : members) {
      timeline.busy[device] += end - best_start;
      timeline.actions.push_back({a, device, best_start, end});
    }
    timeline.makespan = std::max(timeline.makespan, end);
    --remaining;
  }
  std::stable_sort(timeline.actions.begin(), timeline.actions.end(),
                   [](const TimedAction& x, const TimedAction& y) { return x.start < y.start; });
  return timeline;
}

}  // namespace vggt_lab
