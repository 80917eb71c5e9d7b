#include "host/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "host/suggest.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab {

void write_file_atomic(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::path temporary = path;
  temporary += ".tmp." + std::to_string(::getpid());
  auto fail = [&](const char* what) {
    std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw Error("cannot write " + path.string() + " (" + what + ": " + reason + ")");
  };
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open");
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      fail("write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("fsync");
  }
  if (::close(fd) != 0) fail("close");
  if (::rename(temporary.c_str(), path.c_str()) != 0) fail("rename");
}

void require_new_or_empty(const std::filesystem::path& dir, const std::string& option) {
  namespace fs = std::filesystem;
  if (!fs::exists(dir) || (fs::is_directory(dir) && fs::is_empty(dir))) return;
  throw InputError(option + " " + dir.string() + " is not an empty folder; write into a new or empty one "
                   "(nothing there was changed)");
}

void require_own_files(const std::filesystem::path& dir, const std::string& what,
                       const std::function<bool(const std::string&)>& ours, const std::string& hint) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (!ours(name)) names.push_back(name);
  }
  if (names.empty()) return;
  std::sort(names.begin(), names.end());
  if (names.size() > 3) {
    names.resize(3);
    names.push_back("...");
  }
  throw InputError("--out " + dir.string() + " holds files that are not " + what + "'s (" + join(names) + "); " + what +
                   " writes a folder of its own: choose a new or empty --out" + hint);
}

FolderLock::FolderLock(const std::filesystem::path& dir) {
  const auto file = dir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open " + file.string() + " (" + std::strerror(errno) + ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    [[maybe_unused]] auto n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    throw InputError(dir.string() + " is in use by another vggt-lab process (pid " + std::string(pid) +
                     "): wait for it to end, or stop it (Ctrl-C or SIGTERM stops a run after its step, with a "
                     "checkpoint)");
  }
  const std::string pid = std::to_string(::getpid());  // for another process's message only
  [[maybe_unused]] const int truncated = ::ftruncate(fd_, 0);
  [[maybe_unused]] const auto written = ::pwrite(fd_, pid.data(), pid.size(), 0);
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

FolderLock::FolderLock(FolderLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

}  // namespace vggt_lab
