// `vggt-lab launch -n N FILE.toml`: N local ranks of `vggt-lab run`, with the
// environment torchrun gives, each bound to its share of the cores; signals
// are forwarded, the first failure stops the others and its status is returned.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <iostream>

#include "cli/commands.hpp"
#include "host/child.hpp"

namespace vggt_lab {
namespace {

// Live ranks' pids; 0 once reaped, so a signal never reaches a reused pid.
std::vector<pid_t> g_children;
volatile sig_atomic_t g_interrupted = 0;  // the signal launch was stopped by

void forward(int signal) {
  for (pid_t pid : g_children) {
    if (pid > 0) kill(pid, signal);
  }
}

void interrupted(int signal) {
  g_interrupted = signal;
  forward(signal);
}

/// A TCP socket bound to `address`:`port` (0: any free port), or -1 with errno set.
int bound_socket(std::uint32_t address, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_addr.s_addr = htonl(address);
  where.sin_port = htons(std::uint16_t(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0) return fd;
  const int error = errno;
  close(fd);
  errno = error;
  return -1;
}

/// The rendezvous listens on every address of this machine at `port`.
void check_port_free(int port) {
  const int fd = bound_socket(INADDR_ANY, port);
  if (fd >= 0) {
    close(fd);
    return;
  }
  if (errno == EADDRINUSE) {
    throw InputError("--port " + std::to_string(port) +
                     ": the port is taken by another program on this machine; choose another, or leave --port out "
                     "for a free one");
  }
}

int free_port() {
  const int fd = bound_socket(INADDR_LOOPBACK, 0);
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (fd < 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) close(fd);
    throw Error("cannot find a free TCP port on 127.0.0.1; pass --port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

std::vector<std::string> run_arguments(const GlobalOptions& global, const RunArgs& run) {
  std::vector<std::string> argv{"/proc/self/exe"};
  if (global.verbose) argv.push_back("--verbose");
  if (global.quiet) argv.push_back("--quiet");
  for (const auto& path : global.plugin_paths) argv.insert(argv.end(), {"--plugin-path", path.string()});
  argv.push_back("run");
  if (!run.file.empty()) argv.push_back(run.file.string());
  if (run.out) argv.insert(argv.end(), {"--out", run.out->string()});
  if (run.resume) argv.insert(argv.end(), {"--resume", run.resume->string()});
  for (const auto& o : run.overrides) argv.insert(argv.end(), {"--set", o});
  return argv;
}

/// Rank `rank`'s equal share of this process's CPUs; none (unbound) when
/// binding is off or there are fewer CPUs than ranks.
std::vector<int> cpus_of(int rank, int world, bool bind) {
  const std::vector<int> cpus = allowed_cpus();
  const std::size_t share = cpus.size() / std::size_t(world);
  if (!bind || share == 0) return {};
  return {cpus.begin() + std::ptrdiff_t(share * rank), cpus.begin() + std::ptrdiff_t(share * (rank + 1))};
}

pid_t start_rank(const std::vector<std::string>& arguments, int rank, int world, int port, bool bind) {
  const std::string r = std::to_string(rank), w = std::to_string(world);
  ChildSpec spec{arguments,
                 {{"RANK", r}, {"LOCAL_RANK", r}, {"WORLD_SIZE", w}, {"LOCAL_WORLD_SIZE", w},
                  {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}},
                 std::nullopt,
                 cpus_of(rank, world, bind)};
  if (!spec.cpus.empty()) spec.environment["VGGT_LAB_CORES"] = std::to_string(spec.cpus.size());
  return start_child(spec);
}

}  // namespace

int command_launch(const GlobalOptions& global, const LaunchArgs& args) {
  check_run_arguments(global, args.run);  // an error once, here, rather than once from every rank
  if (args.port > 0) check_port_free(args.port);
  const int port = args.port > 0 ? args.port : free_port();
  const auto arguments = run_arguments(global, args.run);
  struct sigaction action {};
  action.sa_handler = interrupted;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  for (int rank = 0; rank < args.processes; ++rank) {
    g_children.push_back(start_rank(arguments, rank, args.processes, port, args.bind_cores));
  }
  int first_failure = 0, failed_rank = -1, running = args.processes;
  while (running > 0) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto it = std::find(g_children.begin(), g_children.end(), pid);
    if (it == g_children.end()) continue;
    *it = 0;
    --running;
    if (child_exit(status).status != 0 && failed_rank < 0 && !g_interrupted) {
      failed_rank = int(it - g_children.begin());
      first_failure = child_exit(status).status;
      std::cerr << "vggt-lab launch: rank " << failed_rank << " exited with status " << first_failure
                << "; stopping the other ranks\n";
      forward(SIGKILL);  // they cannot finish a step without it (SIGTERM would wait for that step)
    }
  }
  g_children.clear();
  if (g_interrupted) {
    std::cerr << "vggt-lab launch: interrupted by " << (g_interrupted == SIGINT ? "SIGINT" : "SIGTERM")
              << "; the ranks were stopped (continue the run with --resume RUN_FOLDER)\n";
    return 128 + g_interrupted;
  }
  return first_failure;
}

}  // namespace vggt_lab
