#include "host/launcher.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <sstream>

#include "vggt_lab/error.hpp"

namespace vggt_lab {
namespace {

/// The variables one launcher sets in each process it starts.
struct Launcher {
  const char* name;
  const char *size, *rank, *local_rank, *local_size;  // local_size null: from SLURM's tasks per node
};

const Launcher kLaunchers[] = {
    {"torchrun", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
    {"Open MPI", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"MPICH", "PMI_SIZE", "PMI_RANK", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
    {"SLURM", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID", "SLURM_LOCALID", nullptr},
};

/// This node's tasks from SLURM_STEP_TASKS_PER_NODE ("2(x3),1": 2 on each of
/// nodes 0-2, 1 on node 3) and SLURM_NODEID; `fallback` when it is missing.
int slurm_tasks_here(int fallback) {
  const char* text = std::getenv("SLURM_STEP_TASKS_PER_NODE");
  if (!text) return fallback;
  const int node = env_int("SLURM_NODEID", 0);
  std::istringstream items(text);
  int first = 0;  // the first node the item covers
  for (std::string item; std::getline(items, item, ',');) {
    int tasks = 0, nodes = 1;
    if (std::sscanf(item.c_str(), "%d(x%d)", &tasks, &nodes) < 1) return fallback;
    if (node < first + nodes) return tasks;
    first += nodes;
  }
  return fallback;
}

}  // namespace

int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0) {
    throw InputError(std::string("environment variable ") + name + "='" + text +
                     "' is not a non-negative integer; set it as the launcher does, or unset it for one process");
  }
  return int(value);
}

std::optional<LaunchedRanks> launched_ranks() {
  const auto found = std::find_if(std::begin(kLaunchers), std::end(kLaunchers),
                                  [](const Launcher& l) { return std::getenv(l.size) != nullptr; });
  if (found == std::end(kLaunchers)) return std::nullopt;
  LaunchedRanks r;
  r.launcher = found->name;
  r.rank_name = found->rank;
  r.size_name = found->size;
  r.size = env_int(found->size, 1);
  r.rank = env_int(found->rank, 0);
  r.local_rank = env_int(found->local_rank, r.rank);
  r.local_size = found->local_size ? env_int(found->local_size, r.size) : slurm_tasks_here(r.size);
  return r;
}

int ranks_on_this_host() {
  try {
    const auto ranks = launched_ranks();
    return ranks ? std::max(1, ranks->local_size) : 1;
  } catch (const InputError&) {  // `run` reports it when it joins the ranks
    return 1;
  }
}

}  // namespace vggt_lab
