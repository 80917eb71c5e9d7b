#pragma once
// Benchmarks behind `vggt-lab bench`: each measures in one run the figures
// it compares, so ratios are not spoiled by a noisy shared machine.
#include <string>

#include <nlohmann/json.hpp>

#include "experiment/experiment.hpp"

namespace vggt_lab::bench {

/// What a benchmark runs.
struct Workload {
  std::filesystem::path file;  // the experiment giving model, data and step shape
  std::vector<std::string> overrides;
  int steps = 3;
};

/// Per strategy on 4 logical devices: measured peak per device, max/mean,
/// and predicted-vs-measured error.
nlohmann::json placement(const GlobalOptions& global, const Workload& args);
/// A 2-stage pipeline with 8 micro-batches against one device: throughput
/// ratio, measured bubble against (p-1)/(m+p-1).
nlohmann::json pipeline(const GlobalOptions& global, const Workload& args);
/// Frame-parallel over 2 logical devices against one device, one core
/// each, on 8-frame scenes: throughput ratio and peaks per device.
nlohmann::json frames(const GlobalOptions& global, const Workload& args);
/// synthetic-scenes batches per second with 1 and 2 workers.
nlohmann::json data(const GlobalOptions& global, const Workload& args);
/// A vggt-lab training step against a hand-written LibTorch loop (forward,
/// the same losses, backward, AdamW) on the same model and batches.
nlohmann::json overhead(const GlobalOptions& global, const Workload& args);
/// One device's training step (gradients cleared, forward, losses, backward,
/// AdamW), the median of max(steps, 5) after a warm-up, against its floor:
/// the units' FLOPs (backward twice the forward, recomputation added) at the
/// rate of a 1024x1024 fp32 matrix product measured in the same run with the
/// threads the step computes with.
nlohmann::json step(const GlobalOptions& global, const Workload& args);
/// The experiment trained for 10 x steps by one rank with half the process's
/// cores, then by two (`launch -n 2`, each with half): scenes per second and
/// scaling efficiency.
nlohmann::json data_parallel(const GlobalOptions& global, const Workload& args);

/// On a CUDA device: the 1B aggregator's forward time and peak memory against
/// frames at 336x518 (bf16 autocast, as the official table), and training
/// steps of the small and 1B presets at doubling frame counts until memory
/// runs out, with and without activation checkpointing.
nlohmann::json gpu(const GlobalOptions& global, const Workload& args);

}  // namespace vggt_lab::bench
