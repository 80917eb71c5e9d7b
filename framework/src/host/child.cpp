#include "host/child.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "vggt_lab/error.hpp"

extern char** environ;

namespace vggt_lab {

pid_t start_child(const ChildSpec& spec) {
  std::vector<std::string> env;
  for (const auto& [name, value] : spec.environment) env.push_back(name + "=" + value);
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    if (!spec.environment.count(entry.substr(0, entry.find('=')))) env.push_back(entry);
  }
  auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  };
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv = pointers(args), envp = pointers(env);
  const std::string log = spec.log ? spec.log->string() : std::string();
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  for (int cpu : spec.cpus) CPU_SET(cpu, &cpus);
  pid_t pid = fork();
  if (pid < 0) throw Error(std::string("cannot start ") + args.at(0) + ": fork failed: " + std::strerror(errno));
  if (pid > 0) return pid;
  if (!log.empty()) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
  }
  if (!spec.cpus.empty()) sched_setaffinity(0, sizeof cpus, &cpus);
  execve(argv[0], argv.data(), envp.data());
  _exit(127);
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  }
  return out;
}

ChildExit child_exit(int wait_status) {
  if (WIFSIGNALED(wait_status)) return {128 + WTERMSIG(wait_status), true, false};
  return {WEXITSTATUS(wait_status), false, false};
}

ChildExit wait_child(pid_t pid, std::optional<double> timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, timeout_s ? WNOHANG : 0);
    if (done == pid) return child_exit(status);
    if (done < 0 && errno != EINTR) throw Error("waiting for process " + std::to_string(pid) + ": " + std::strerror(errno));
    if (timeout_s && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > *timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ChildExit out = child_exit(status);
      out.timed_out = true;
      return out;
    }
    if (timeout_s) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace vggt_lab
