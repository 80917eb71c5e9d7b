#pragma once
// The training loop: data -> runtime step (forward, losses on each head's
// device, backward) -> gradient policy -> optimizer on each device ->
// metrics, progress, evaluation and checkpoints in the run folder.
#include <filesystem>
#include <memory>
#include <optional>

#include "distributed/data_parallel.hpp"
#include "host/config.hpp"
#include "plan/planning.hpp"
#include "runtime/executor.hpp"
#include "train/checkpoint.hpp"
#include "vggt_lab/optim.hpp"

namespace spdlog {
class logger;
}

namespace vggt_lab::train {

struct TrainerSetup {
  const ResolvedConfig* config = nullptr;
  const Registry* registry = nullptr;
  PluginContext context;
  std::filesystem::path run_dir;
  std::optional<LocatedCheckpoint> resume;  // found before the run folder was written
  PlanReport plan;
  PluginObject<Model> model;
  bool progress_bar = false;  // a live bar on a terminal, log lines otherwise
  // Several processes: gradients averaged over ranks, data sharded by rank;
  // rank 0 alone writes metrics, evaluations and checkpoints. Null: one process.
  std::shared_ptr<distributed::DataParallel> data_parallel;
};

struct TrainSummary {
  std::int64_t steps = 0, skipped = 0;          // the run's, a resumed one's earlier steps included
  double first_fifth_loss = 0, last_fifth_loss = 0;  // of the run's steps
  double seconds = 0, samples_per_second = 0;   // this process's training
  std::map<std::string, double> final_eval;
  std::filesystem::path checkpoint;
  std::string stopped;  // why training ended early (a non-finite loss, an interrupt); empty when it ran every step
  int interrupted = 0;  // the signal (SIGINT, SIGTERM) that stopped it after a step with a checkpoint
};

/// Trains as the experiment says and writes metrics.jsonl, timeline.json,
/// summary.json and checkpoints into the run folder.
VGGT_LAB_API TrainSummary train(const TrainerSetup& setup);

/// The model instance with frozen parameters marked and checkpointing set.
VGGT_LAB_API std::shared_ptr<ModelInstance> build_model(const PluginObject<Model>& model, const Options& train);

/// Trainable parameters per logical device, from the plan.
VGGT_LAB_API std::map<int, std::vector<NamedParameter>> parameters_by_device(ModelInstance& instance, const Plan& plan);

/// The autocast dtype of a [train] precision (none for fp32).
VGGT_LAB_API std::optional<torch::ScalarType> autocast_of(const std::string& precision);

}  // namespace vggt_lab::train
