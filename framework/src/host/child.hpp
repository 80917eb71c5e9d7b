#pragma once
// Child processes of vggt-lab (sweep trials, launch ranks, benchmark runs),
// started one way: argv and environment are made before fork, since the
// child of a threaded process may only call exec.
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

struct ChildSpec {
  std::vector<std::string> argv;                  // argv[0] is the program's path
  std::map<std::string, std::string> environment;  // set or replaced in the parent's environment
  std::optional<std::filesystem::path> log;       // stdout and stderr, or the parent's
  std::vector<int> cpus;                          // the CPUs it may run on; empty: the parent's
};

/// Starts the child; throws Error when fork fails. A child whose exec fails
/// exits with status 127.
VGGT_LAB_API pid_t start_child(const ChildSpec& spec);

/// The CPUs this process may run on (its affinity).
VGGT_LAB_API std::vector<int> allowed_cpus();

struct ChildExit {
  int status = 0;          // the exit status, or 128 + the signal that ended it
  bool signalled = false;  // ended by a signal (SIGKILL: out of memory, or the timeout)
  bool timed_out = false;  // killed after timeout_s
};

/// Waits for `pid`; kills it with SIGKILL after `timeout_s` seconds when given.
VGGT_LAB_API ChildExit wait_child(pid_t pid, std::optional<double> timeout_s = std::nullopt);

/// The exit of a wait status from waitpid.
VGGT_LAB_API ChildExit child_exit(int wait_status);

}  // namespace vggt_lab
