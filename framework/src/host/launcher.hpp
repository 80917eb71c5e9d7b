#pragma once
// The ranks a launcher started (torchrun, mpirun, srun), as the variables it
// sets in each process describe them.
#include <optional>
#include <string>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

struct LaunchedRanks {
  std::string launcher;               // torchrun, Open MPI, MPICH, SLURM
  std::string rank_name, size_name;   // the variables read, for messages
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
};

/// torchrun's RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE; else Open MPI's
/// OMPI_COMM_WORLD_*; else MPICH's and Intel MPI's PMI_RANK, PMI_SIZE,
/// MPI_LOCALRANKID, MPI_LOCALNRANKS; else a SLURM step's (srun) SLURM_PROCID,
/// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_TASKS_PER_NODE. Nothing
/// when none is set. Throws InputError naming a variable that is not a
/// non-negative integer.
VGGT_LAB_API std::optional<LaunchedRanks> launched_ranks();

/// The integer in environment variable `name`, `fallback` when unset or
/// empty; InputError naming it when it is not a non-negative integer.
VGGT_LAB_API int env_int(const char* name, int fallback);

/// The ranks on this host: launched_ranks()'s local size, 1 without a
/// launcher or when its variables cannot be read.
VGGT_LAB_API int ranks_on_this_host();

}  // namespace vggt_lab
