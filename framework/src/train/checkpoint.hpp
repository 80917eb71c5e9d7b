#pragma once
// Checkpoints in the run folder: checkpoints/step-<n>/ holds model.safetensors
// (official key names), optimizer.safetensors, state.json and plan.json;
// checkpoints/latest names the newest. Written to a temporary folder, flushed,
// then renamed, so a crash never leaves a half-written checkpoint; the
// previous one is kept.
#include <filesystem>
#include <string>

#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab::train {

struct TrainingState {
  std::int64_t step = 0;           // optimizer steps done
  std::int64_t data_position = 0;  // the loader's next step
  double loss_scale = 1.0;         // fp16 dynamic loss scale
  std::int64_t scale_growth_tracker = 0;
};

struct Checkpoint {
  std::filesystem::path dir;
  NamedTensors model, optimizer;
  TrainingState state;
};

/// Writes checkpoints/step-<n>; returns its folder.
VGGT_LAB_API std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, const NamedTensors& model,
                                                   const NamedTensors& optimizer, const TrainingState& state,
                                                   const std::string& plan_json);

/// Reads a checkpoint from a run folder (its latest), a checkpoints folder,
/// or a step folder. Throws InputError naming what is missing.
VGGT_LAB_API Checkpoint load_checkpoint(const std::filesystem::path& where);

}  // namespace vggt_lab::train
