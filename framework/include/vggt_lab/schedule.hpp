#pragma once
// Schedules: which forward and backward of which micro-batch each stage runs,
// in what order, and how long a step takes. The same timeline orders the
// runtime's per-device work (so it cannot deadlock) and predicts step time
// and pipeline bubble for `vggt-lab plan`.
#include <functional>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/plan.hpp"

namespace vggt_lab {

/// The schedules a Plan may name besides "custom": "sequential" (each
/// micro-batch's forward, then its backward), "gpipe" (every forward, then
/// every backward), "1f1b".
VGGT_LAB_API const std::vector<std::string>& schedule_names();

/// One stage's sequence under `schedule` for `micro_batches` micro-batches,
/// the stage at `depth` of a pipeline `pipeline_depth` stages deep. Throws
/// Error for a schedule schedule_names() lacks.
VGGT_LAB_API std::vector<Action> stage_sequence(const std::string& schedule, int stage, int micro_batches,
                                                int depth, int pipeline_depth);

/// The queues of actions the plan runs, each in its order: under a named
/// schedule each stage's own sequence (depths from stage_depths()), under
/// "custom" each device's list, less micro-batches the plan does not run.
VGGT_LAB_API std::vector<std::vector<Action>> action_queues(const Plan& plan, const std::vector<int>& depths);

struct TimedAction {
  Action action;
  int device = 0;
  double start = 0, end = 0;
};

struct VGGT_LAB_API Timeline {
  std::vector<TimedAction> actions;  // in start order
  double makespan = 0;
  std::vector<double> busy;          // per logical device, seconds of work
  /// Idle share of the step on device d: 1 - busy / makespan.
  double bubble(int device) const;
  /// Actions of one device in the order it runs them.
  std::vector<Action> device_order(int device) const;
};

/// Seconds a stage's forward or backward of one micro-batch takes.
using Duration = std::function<double(int stage, Pass pass)>;
/// Seconds to move the tensors from one stage to another (0 on one device).
using TransferTime = std::function<double(int from_stage, int to_stage)>;

/// Logical devices on one physical device share its processor. A GPU runs
/// one of their actions at a time (one stream). A CPU with C cores gives each
/// of its n workers worker_threads(C, n) intra-op threads, so it runs
/// C / that many actions at once, each at the speed of that many threads.
struct VGGT_LAB_API Processors {
  std::vector<int> of;     // per logical device: its processor
  std::vector<int> lanes;  // per processor: actions it runs at once
  /// Everything on its own processor, one action at a time.
  static Processors separate(int devices);
};

/// The processors of a topology whose CPU workers share `cores` cores.
VGGT_LAB_API Processors shared_processors(const Topology& topology, int cores);

/// Intra-op threads the runtime gives each of `workers` workers sharing `cores`.
VGGT_LAB_API int worker_threads(int cores, int workers);
/// This process's share of the machine's cores: VGGT_LAB_CORES when set (a
/// sweep running trials side by side and `launch` set it for each), else
/// the cores it may run on (its affinity) divided among the ranks on this
/// host (as torchrun, mpirun or srun describe them).
VGGT_LAB_API int process_cores();

/// List scheduling: each device runs one action at a time, and each
/// processor as many as it has lanes; an action starts when its device and a
/// lane of its processor are free and its inputs (forwards of producer
/// stages, backwards of consumer stages) have arrived. Throws Error if the
/// plan's sequences cannot all run (a cyclic wait).
VGGT_LAB_API Timeline simulate(const ModelGraph& graph, const Plan& plan, const Duration& duration,
                               const TransferTime& transfer, const Processors& processors);
/// The same with each logical device on a processor of its own.
VGGT_LAB_API Timeline simulate(const ModelGraph& graph, const Plan& plan, const Duration& duration,
                               const TransferTime& transfer);

/// Producer stages of each stage (by the graph's edges), without repeats.
VGGT_LAB_API std::vector<std::vector<int>> stage_producers(const ModelGraph& graph, const Plan& plan);

}  // namespace vggt_lab
