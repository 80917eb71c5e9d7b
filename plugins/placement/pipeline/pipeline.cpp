// `pipeline`: the units in graph order cut into p contiguous stages on
// devices 0..p-1, balanced by time (unit times, else forward FLOPs) or by
// memory, or cut where `splits` says, with the batch split into m
// micro-batches run as GPipe or 1F1B. With frame_shards = g, each stage
// shards each scene's frames over g devices: stage s on devices sg..sg+g-1.
#include <algorithm>
#include <limits>
#include <vggt_lab/placement.hpp>
#include <vggt_lab/plugin.hpp>

namespace {

struct PipelineSettings {
  int stages = 0;  // 0: one per device
  int micro_batches = 4;
  std::string schedule = "1f1b";
  std::string balance = "time";
  std::vector<std::int64_t> splits;  // given cut points (empty: balance)
  int frame_shards = 1;               // devices each stage shards its frames over
};

class Pipeline : public vggt_lab::Placement {
 public:
  explicit Pipeline(PipelineSettings settings) : settings_(std::move(settings)) {}

  vggt_lab::Plan place(const vggt_lab::PlacementProblem& problem) const override {
    const int devices = static_cast<int>(problem.topology.devices.size());
    const int units = static_cast<int>(problem.graph.units.size());
    const int g = settings_.frame_shards;
    int p = settings_.stages > 0 ? settings_.stages : std::max(1, devices / g);
    if (p * g > devices) {
      throw vggt_lab::InputError("[placement] stages = " + std::to_string(p) + " x frame_shards = " + std::to_string(g) +
                                 " needs " + std::to_string(p * g) + " devices, but there are " +
                                 std::to_string(devices) + "; lower stages or frame_shards, or raise [devices] count");
    }
    p = std::min(p, units);
    std::vector<double> cost;
    for (const auto& unit : problem.graph.units) cost.push_back(unit_cost(unit, problem.memory));
    vggt_lab::Plan plan;
    plan.strategy = "pipeline";
    plan.micro_batches = settings_.micro_batches;
    plan.schedule = settings_.schedule;
    auto cuts = settings_.splits.empty() ? split(cost, p) : given_cuts(units, p);
    plan.splits.assign(cuts.begin() + 1, cuts.end() - 1);
    for (int s = 0; s < p; ++s) {
      vggt_lab::Stage stage{s * g, {}, {}};
      for (int k = 1; k < g; ++k) stage.frame_group.push_back(s * g + k);
      for (int u = cuts[s]; u < cuts[s + 1]; ++u) stage.units.push_back(problem.graph.units[u].name);
      plan.stages.push_back(std::move(stage));
    }
    return plan;
  }

 private:
  PipelineSettings settings_;

  double unit_cost(const vggt_lab::Unit& unit, const vggt_lab::MemoryModel& memory) const {
    if (settings_.balance == "memory") return double(vggt_lab::unit_memory(unit, memory));
    // Measured costs carry times; estimates carry forward FLOPs.
    if (unit.cost.forward_seconds > 0) return unit.cost.forward_seconds + unit.cost.backward_seconds;
    return unit.cost.forward_flops;
  }

  /// {0, splits..., n}, checked.
  std::vector<int> given_cuts(int units, int p) const {
    const auto& given = settings_.splits;
    const bool in_range =  // the schema holds them increasing
        std::all_of(given.begin(), given.end(), [&](std::int64_t g) { return g >= 1 && g < units; });
    if (int(given.size()) != p - 1 || !in_range) {
      throw vggt_lab::InputError("[placement] splits: " + std::to_string(p) + " stages need " + std::to_string(p - 1) +
                                 " unit indices between 1 and " + std::to_string(units - 1) + " (where stages 2.." +
                                 std::to_string(p) + " begin, units in graph order as `vggt-lab model show` lists "
                                 "them), got " + std::to_string(given.size()) + " value(s)" +
                                 (in_range ? "" : " out of range"));
    }
    std::vector<int> cuts{0};
    for (auto g : given) cuts.push_back(int(g));
    cuts.push_back(units);
    return cuts;
  }

  /// Cut points minimising the largest stage cost (dynamic programming over
  /// prefix sums); stage s holds units [cuts[s], cuts[s+1]).
  static std::vector<int> split(const std::vector<double>& cost, int p) {
    const int n = static_cast<int>(cost.size());
    std::vector<double> prefix(n + 1, 0);
    for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + cost[i];
    const double inf = std::numeric_limits<double>::infinity();
    // best[k][i]: the smallest max stage cost for the first i units in k stages.
    std::vector<std::vector<double>> best(p + 1, std::vector<double>(n + 1, inf));
    std::vector<std::vector<int>> from(p + 1, std::vector<int>(n + 1, 0));
    best[0][0] = 0;
    for (int k = 1; k <= p; ++k) {
      for (int i = k; i <= n; ++i) {
        for (int j = k - 1; j < i; ++j) {
          double worst = std::max(best[k - 1][j], prefix[i] - prefix[j]);
          if (worst < best[k][i]) {
            best[k][i] = worst;
            from[k][i] = j;
          }
        }
      }
    }
    std::vector<int> cuts(p + 1, n);
    for (int k = p, i = n; k > 0; --k) {
      cuts[k] = i;
      i = from[k][i];
      cuts[k - 1] = i;
    }
    return cuts;
  }
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "pipeline";
  info.version = "1.1";
  info.summary = "Contiguous stages over the units in graph order, micro-batched (GPipe or 1F1B)";
  info.doc =
      "Cuts the units, in graph order, into `stages` contiguous stages on devices 0..p-1,\n"
      "minimising the largest stage cost: for balance = \"time\", forward and backward seconds\n"
      "when the costs carry them (measured, or calibrated on the profile's kind of device),\n"
      "else forward FLOPs; for \"memory\", predicted memory. Each batch is split into\n"
      "`micro_batches` micro-batches run under `schedule`: gpipe (all forwards, then all\n"
      "backwards) or 1f1b (at most p - s micro-batches in flight on stage s). Skip tensors to\n"
      "the heads cross stages and are charged as receive buffers. `splits` fixes the cuts.\n"
      "With frame_shards = g, stage s runs on devices sg..sg+g-1, which share its frames.";
  info.schema.integer("stages", 0, "Pipeline stages (0: one per frame_shards logical devices)", 0.0)
      .integer("frame_shards", 1, "Devices each stage shards each scene's frames over", 1.0)
      .integer("micro_batches", 4, "Micro-batches per step (a smaller batch uses fewer)", 1.0)
      .string("schedule", "1f1b", "gpipe or 1f1b", {"gpipe", "1f1b"})
      .string("balance", "time", "Balance stages by time (unit times, else FLOPs) or by memory", {"time", "memory"})
      .integer_list("splits", {},
                    "Unit indices (graph order) where stages 2..p begin, instead of balancing; a sweep's "
                    "split-point search writes these",
                    1.0)
      .with_check(vggt_lab::strictly_increasing());
  registrar.add<vggt_lab::Placement>(
      std::move(info), [](const vggt_lab::Options& o, const vggt_lab::PluginContext&) {
        return std::make_unique<Pipeline>(PipelineSettings{int(o.get<std::int64_t>("stages")),
                                                  int(o.get<std::int64_t>("micro_batches")),
                                                  o.get<std::string>("schedule"),
                                                  o.get<std::string>("balance"),
                                                  o.get<std::vector<std::int64_t>>("splits"),
                                                  int(o.get<std::int64_t>("frame_shards"))});
      });
}

}  // namespace

VGGT_LAB_PLUGIN("placement", "pipeline", "1.1", register_plugins)
