#include "support/support.hpp"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace vggt_lab::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vggt-lab-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& content) const {
  std::filesystem::path file = path_ / name;
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file) << content;
  return file;
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buffer;
  while (std::size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) {
    result.output.append(buffer.data(), n);
  }
  int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}

std::filesystem::path test_plugin_dir(const std::string& name) {
  return std::filesystem::path(TEST_PLUGIN_ROOT) / name;
}

std::string vggt_lab_exe() { return VGGT_LAB_EXE; }

PluginHost& builtin_plugins() {
  static std::unique_ptr<PluginHost> host = [] {
    auto h = std::make_unique<PluginHost>(nullptr);
    h->load_path({default_plugin_dir(), "built-in", true});
    return h;
  }();
  return *host;
}

}  // namespace vggt_lab::testing
