// The core's own tables. Defaults live here and nowhere else.
#include "host/config.hpp"

namespace vggt_lab {
namespace {

std::optional<std::string> check_size(const std::string& text) {
  if (text == "auto" || parse_bytes(text)) return std::nullopt;
  return "must be \"auto\" or a size such as \"80GiB\", \"512MiB\" or \"16GB\", got \"" + text + "\"";
}

std::optional<std::string> check_memory(const OptionValue& value) {
  return check_size(std::get<std::string>(value));
}

std::optional<std::string> check_memories(const OptionValue& value) {
  for (const auto& text : std::get<std::vector<std::string>>(value)) {
    if (auto problem = check_size(text)) return "entries " + *problem;
  }
  return std::nullopt;
}

std::optional<std::string> check_checkpointing(const OptionValue& value) {
  const auto& text = std::get<std::string>(value);
  if (text == "true" || text == "false") {
    return "is a choice of units now: \"trunk\" for what true meant, \"none\" for false";
  }
  if (text.find_first_not_of(" ,") == std::string::npos) {
    return "must be none, trunk, global, all or unit globs separated by commas, got \"" + text + "\"";
  }
  return std::nullopt;
}

std::map<std::string, OptionSchema> make_core_schemas() {
  std::map<std::string, OptionSchema> schemas;
  schemas["experiment"]
      .string("name", "", "Name of the experiment; empty means the file name without .toml")
      .string("description", "", "Free text, copied into the run folder")
      .integer("seed", 42, "Seed for every random number generator of the run", 0.0);
  schemas["devices"]
      .integer("count", 1, "Number of logical devices a plan places onto", 1.0, 1024.0)
      .string("physical", "auto",
              "Where logical devices live: auto (cuda:i when enough GPUs exist, else shared), "
              "cpu, or cuda",
              {"auto", "cpu", "cuda"})
      .string("memory", "auto", "Capacity per logical device: auto (from the device) or a size")
      .with_check(check_memory)
      .string_list("memories", {},
                   "Capacities per logical device, for unequal devices (overrides memory)")
      .with_check(check_memories)
      .number("flops", 0.0,
              "Sustained FLOP/s per logical device for time predictions (0: 2e10 on a CPU, "
              "2e14 on a GPU)",
              0.0)
      .string("bandwidth", "auto",
              "Bytes per second between logical devices, e.g. \"25GB\" (auto: 10GB on a CPU, "
              "25GB between GPUs)")
      .with_check(check_memory);
  schemas["costs"]
      .string("source", "auto",
              "Unit costs plans use: analytic (the model's estimates, nothing allocated), measured (every unit "
              "profiled on the first logical device at the step shape, cached), calibrated (estimates scaled per "
              "kind of unit by the profile named in calibration), auto (measured when `run` or `bench` trains on "
              "this machine's devices and the largest unit can be profiled on the first, else analytic; `plan` and "
              "a sweep's predictions use analytic)",
              {"auto", "analytic", "measured", "calibrated"})
      .string("calibration", "", "Profile JSON (from `vggt-lab profile --out`) that calibrates the estimates")
      .as_path()
      .integer("repeat", 5, "Timed runs per unit when profiling, after one warm-up; the fastest counts", 1.0)
      .string("cache", "", "Folder of cached profiles (empty: $XDG_CACHE_HOME or ~/.cache, /vggt-lab/profiles)")
      .as_path();
  schemas["train"]
      .integer("steps", 100, "Optimizer steps to run (unless epochs is set)", 1.0)
      .integer("epochs", 0,
               "When > 0, run this many epochs instead of `steps`: an epoch draws as many scenes as the "
               "data source holds at batch_size scenes per step, over all ranks (as the official len_train)",
               0.0)
      .integer("log_every", 10, "Steps between log lines", 1.0)
      .integer("batch_size", 1, "Scenes per step (split into the plan's micro-batches)", 1.0)
      .integer("frames", 8, "Frames per scene at most (the shape plans are made for)", 1.0)
      .integer("image_height", 518, "Image height in pixels at most (a multiple of the patch size)", 1.0)
      .integer("image_width", 518, "Image width in pixels at most", 1.0)
      .integer("track_queries", 0, "Query points per scene for the track head (0: no tracking)", 0.0)
      .string("checkpointing", "none",
              "Units whose activations are recomputed in backward instead of kept: none, trunk (the patch "
              "embedder and aggregator blocks, as the official trainer), global (only the aggregator's "
              "global-attention blocks), all (every unit: also the camera trunk and the DPT heads), or unit "
              "globs separated by commas, e.g. \"block.*, point_head\"")
      .with_check(check_checkpointing)
      .integer("head_checkpoint_frames", 0,
               "Checkpoint the frame-wise DPT heads (depth, point, the track head's features) by chunks of "
               "this many frames: a head keeps one chunk's activations instead of all frames' (0: off)",
               0.0)
      .boolean("unused_parameters", false,
               "Trainable parameters may go a step without a gradient (or the first step with an all-zero "
               "one); false stops the run naming the first such parameter (DDP's "
               "find_unused_parameters=false contract)")
      .string("fused_attention", "auto",
              "Whether attention keeps its probabilities for backward: off (the math kernel keeps them), "
              "on (flash / memory-efficient kernels keep none, on CPUs and GPUs), auto (on)",
              {"auto", "on", "off"})
      .string_list("frozen", {}, "Parameters to freeze, by glob on their names, e.g. \"*aggregator*\"")
      .string("precision", "fp32", "fp32, bf16 (autocast) or fp16 (autocast + dynamic loss scaling)",
              {"fp32", "bf16", "fp16"})
      .integer("accum_steps", 1, "Sequential chunks of each batch whose gradients add up before a step", 1.0)
      .integer("min_frames", 0, "Fewest frames per scene a step draws (0: frames)", 0.0)
      .number("min_aspect", 1.0, "Smallest image height / width a step draws", 0.1, 1.0)
      .number("max_aspect", 1.0, "Largest image height / width", 0.1, 1.0)
      .integer("patch_size", 14, "Image sides are multiples of this", 1.0)
      .number("color_jitter", 0.0, "Brightness, contrast and saturation jitter strength", 0.0, 1.0)
      .number("grayscale", 0.0, "Probability of a greyscale frame", 0.0, 1.0)
      .number("blur", 0.0, "Probability of a blurred frame", 0.0, 1.0)
      .integer("data_workers", 1, "Threads preparing batches", 1.0)
      .integer("prefetch", 2, "Batches prepared ahead", 1.0)
      .number("camera_weight", 5.0, "Camera loss weight (official: 5.0)", 0.0)
      .number("depth_weight", 1.0, "Depth loss weight", 0.0)
      .number("point_weight", 1.0, "Point-map loss weight", 0.0)
      .number("track_weight", 0.05, "Track loss weight (paper: 0.05)", 0.0)
      .number("loss_alpha", 0.2, "Confidence regulariser alpha", 0.0)
      .number("valid_range", 0.98, "Quantile of per-pixel losses kept (<= 0 keeps all)", 0.0, 1.0)
      .integer("eval_every", 0, "Steps between evaluations on held-out scenes (0: only at the end)", 0.0)
      .integer("eval_scenes", 4, "Held-out scenes per evaluation (0: none)", 0.0)
      .integer("checkpoint_every", 0, "Steps between checkpoints (0: only at the end)", 0.0)
      .integer("keep_checkpoints", 2,
               "Newest checkpoints kept in the run folder; the newest finite one is kept too when they are not",
               1.0);
  schemas["distributed"]
      .string("backend", "auto", "c10d backend: auto (nccl on GPUs, gloo on CPUs), nccl or gloo",
              {"auto", "nccl", "gloo"})
      .number("timeout_s", 1800.0,
              "Seconds a rank waits for the others (rendezvous, each collective) before it fails", 1.0)
      .number("bucket_cap_mb", 25.0, "Gradients all-reduced together, in MiB per bucket (as DDP)", 0.001)
      .boolean("overlap", true,
               "Start a bucket's all-reduce during backward, once its gradients are final (as DDP); false: after backward")
      .boolean("broadcast_buffers", true, "Broadcast rank 0's buffers before every step (as DDP)")
      .boolean("find_unused_parameters", true,
               "Treat a parameter without a gradient as zero; false makes it an error that names it")
      .boolean("gradient_as_bucket_view", true,
               "Gradients become views into the all-reduced buckets instead of copies (saves one copy)");
  schemas["output"].string("dir", "runs",
                           "Folder that holds run folders when --out is not given; relative "
                           "paths are relative to the current folder")
      .boolean("tensorboard", true,
               "Write the metrics as TensorBoard scalars too (events.out.tfevents.* in the run folder)");
  schemas["plugins"]
      .string_list("search_path", {}, "Extra plugin folders, relative to the file that names them")
      .as_path();
  return schemas;
}

}  // namespace

const std::map<std::string, OptionSchema>& core_schemas() {
  static const std::map<std::string, OptionSchema> schemas = make_core_schemas();
  return schemas;
}

const std::map<std::string, Kind>& plugin_tables() {
  static const std::map<std::string, Kind> tables = {{"model", Kind::model},
                                                     {"placement", Kind::placement},
                                                     {"gradient", Kind::gradient},
                                                     {"optim", Kind::optimizer},
                                                     {"data", Kind::data}};
  return tables;
}

}  // namespace vggt_lab
