#pragma once
// Data parallelism across processes through PyTorch's c10d: rendezvous as
// torchrun does it (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT over a TCPStore), parameters broadcast from rank 0,
// gradients averaged in buckets with the process group's all-reduce.
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vggt_lab/optim.hpp"
#include "vggt_lab/options.hpp"

namespace c10d {
class Backend;
}

namespace vggt_lab::distributed {

struct World {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher;  // whose variables gave the ranks: torchrun, Open MPI, MPICH, SLURM (empty: one process)
  bool multi() const { return size > 1; }
};

/// The world from the launcher's environment: torchrun's (RANK, WORLD_SIZE,
/// LOCAL_RANK, LOCAL_WORLD_SIZE), else mpirun's (Open MPI's OMPI_COMM_WORLD_*,
/// MPICH's and Intel MPI's PMI_RANK, PMI_SIZE, MPI_LOCALRANKID,
/// MPI_LOCALNRANKS), else a SLURM step's (srun: SLURM_PROCID,
/// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE); one
/// process when none is set. MASTER_ADDR and MASTER_PORT name rank 0's
/// host and port; ranks on several hosts need MASTER_ADDR.
VGGT_LAB_API World world_from_env();

/// The [distributed] table.
struct Settings {
  std::string backend = "auto";
  double timeout_s = 1800;
  double bucket_cap_mb = 25;
  bool overlap = true;  // all-reduce buckets during backward
  bool broadcast_buffers = true;
  bool find_unused_parameters = true;
  bool gradient_as_bucket_view = true;
  /// Where collectives run: the CPU for gloo, the rank's first GPU for nccl.
  std::string device = "cpu";
};
/// The [distributed] table, with backend "auto" resolved: nccl when the
/// rank trains on `device` = a GPU, else gloo.
VGGT_LAB_API Settings settings_from(const Options& table, const std::string& device = "cpu");

class VGGT_LAB_API DataParallel {
 public:
  /// Joins the group: over a TCPStore at MASTER_ADDR:MASTER_PORT, or over
  /// `store` when given (threads of one process, in tests).
  DataParallel(World world, Settings settings, c10::intrusive_ptr<c10d::Store> store = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  const World& world() const { return world_; }
  const Settings& settings() const { return settings_; }

  /// Rank 0's `value` on every rank.
  std::string share(const std::string& key, const std::string& value);
  /// Rank 0's parameters (and buffers when broadcast_buffers) on every rank,
  /// in buckets of bucket_cap_mb.
  void broadcast(torch::nn::Module& module);
  /// Buffers only, before each step when broadcast_buffers is set.
  void broadcast_buffers(torch::nn::Module& module);
  /// Averages gradients over ranks after backward, in buckets of at most
  /// bucket_cap_mb (a Reducer overlaps this with backward); returns the number of buckets. A parameter without a gradient is zero-filled, or
  /// an error naming it when find_unused_parameters is false.
  int average_gradients(std::vector<NamedParameter>& parameters);
  /// Each value's mean over ranks.
  std::vector<double> average(const std::vector<double>& values);
  /// Throws when any parameter differs from rank 0's.
  void check_replicas(const std::vector<NamedParameter>& parameters);
  void barrier();

 private:
  struct Group;
  World world_;
  Settings settings_;
  torch::Device device_;
  std::unique_ptr<Group> group_;
  /// Rank 0's values of `tensors`, a collective per bucket_cap_mb of one type.
  void broadcast_coalesced(const std::vector<torch::Tensor>& tensors);
  friend class Reducer;
  c10d::Backend& backend();
  void collective(const char* what, const std::function<void()>& run);
  [[noreturn]] void fail(const char* what, const std::string& why) const;
};

/// Rank 0, or the only process (no group): the one that writes the run folder.
inline bool writes_run_folder(const DataParallel* dp) { return !dp || dp->world().rank == 0; }

}  // namespace vggt_lab::distributed
