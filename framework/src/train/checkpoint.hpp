#pragma once
// Checkpoints in the run folder: checkpoints/step-<n>/ holds model.safetensors
// (official key names), optimizer.safetensors, plan.json and state.json,
// which records each file's size and CRC-32C; checkpoints/latest names the
// newest. Written to a temporary folder, flushed, then renamed, so a crash
// never leaves a half-written checkpoint. Loading verifies every file and
// passes over damaged or non-finite checkpoints to the newest intact one.
#include <filesystem>
#include <string>
#include <vector>

#include "vggt_lab/model.hpp"
#include "vggt_lab/tensor_io.hpp"

namespace vggt_lab::train {

struct TrainingState {
  std::int64_t step = 0;           // optimizer steps done
  std::int64_t data_position = 0;  // the loader's next step
  double loss_scale = 1.0;         // fp16 dynamic loss scale
  std::int64_t scale_growth_tracker = 0;
  bool finite = true;              // every parameter finite
};

/// An intact checkpoint found and verified, not yet read.
struct LocatedCheckpoint {
  std::filesystem::path dir;  // its step folder
  TrainingState state;
  std::vector<std::string> passed_over;  // newer checkpoints not used, each with why
};

struct Checkpoint : LocatedCheckpoint {
  NamedTensors model, optimizer;
};

/// Writes checkpoints/step-<n> and returns its folder. Keeps the newest
/// `keep` checkpoints, and the newest finite one when they are not.
VGGT_LAB_API std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, const NamedTensors& model,
                                                   const NamedTensors& optimizer, const TrainingState& state,
                                                   const std::string& plan_json, int keep = 2);

/// Finds and verifies the checkpoint a step folder names (that one), or a run
/// folder or its checkpoints/ folder names: the newest intact, finite one,
/// `latest` first. Throws InputError naming what is missing or damaged.
VGGT_LAB_API LocatedCheckpoint locate_checkpoint(const std::filesystem::path& where);

/// Throws InputError when the checkpoint's model weights lack a tensor of
/// `model`, hold one it lacks, or one of another shape: read from the
/// file's header, before a run folder exists.
VGGT_LAB_API void check_weights_match(const LocatedCheckpoint& located, const std::vector<TensorSpec>& model);

/// Reads the tensors of a located checkpoint.
VGGT_LAB_API Checkpoint read_checkpoint(const LocatedCheckpoint& located);

/// read_checkpoint(locate_checkpoint(where)).
VGGT_LAB_API Checkpoint load_checkpoint(const std::filesystem::path& where);

/// Model weights from a file (.pt, .safetensors) or from a checkpoint as
/// load_checkpoint finds it (a run folder, its checkpoints/, a step folder).
VGGT_LAB_API NamedTensors model_weights(const std::filesystem::path& where);

}  // namespace vggt_lab::train
