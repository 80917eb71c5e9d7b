#pragma once
// Helpers shared by the test suites.
#include <filesystem>
#include <string>

namespace vggt_lab::testing {

/// A fresh folder under the system temp folder, removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  /// Writes `content` to path()/name and returns the full path.
  std::filesystem::path write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

/// Runs a shell command and captures its output and exit status.
CommandResult run_command(const std::string& command);

/// The folder of one purpose-built test plugin.
std::filesystem::path test_plugin_dir(const std::string& name);

/// The built `vggt-lab` executable.
std::string vggt_lab_exe();

}  // namespace vggt_lab::testing
