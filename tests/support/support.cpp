#include "support/support.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "runtime/executor.hpp"
#include "train/loader.hpp"
#include "train/losses.hpp"
#include "train/trainer.hpp"
#include "vggt_lab/data.hpp"
#include "vggt_lab/placement.hpp"

namespace vggt_lab::testing {

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vggt-lab-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool wait_for_lines(const std::filesystem::path& file, std::size_t lines, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    const std::string text = read_text(file);
    if (std::size_t(std::count(text.begin(), text.end(), '\n')) >= lines) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
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

UnitCost unit_cost(std::int64_t param_bytes, std::int64_t activation_bytes) {
  UnitCost cost;
  cost.param_bytes = param_bytes;
  cost.activation_bytes = activation_bytes;
  return cost;
}

void seed(Stream stream, std::uint64_t offset) { torch::manual_seed(std::uint64_t(stream) + offset); }

PluginHost& builtin_plugins() {
  static std::unique_ptr<PluginHost> host = [] {
    auto h = std::make_unique<PluginHost>(nullptr);
    h->load_path({default_plugin_dir(), "built-in", true});
    return h;
  }();
  return *host;
}

Placed place_on(const ModelGraph& graph, int devices, const std::vector<std::string>& settings,
                const std::string& physical) {
  Placed out;
  for (int d = 0; d < devices; ++d) out.topology.devices.push_back({d, physical, 0, 0});
  auto strategy = create_plugin<Placement>("placement", settings);
  out.plan = strategy.object->place({graph, out.topology, {}});
  return out;
}

std::vector<std::int64_t> training_peaks(const ResolvedConfig& c, const PlanReport& p) {
  auto& plugins = builtin_plugins();
  auto model = vggt_lab::create_plugin<Model>(c, "model", plugins.registry(), plugins.context());
  seed(Stream::weights);
  auto instance = train::build_model(model, c.core("train"));
  runtime::Executor executor(instance, p.graph, p.plan, p.topology,
                             std::make_shared<runtime::InProcessTransport>(p.topology));
  auto source = plugins.registry().create<DataSource>(*c.plugin("data"), c.plugin_options("data"), plugins.context());
  const TensorMap batch = train::make_batch(*source.object, train::planned_loader_options(c.core("train")), 0);
  const train::LossOptions weights = train::loss_options(c.core("train"));
  auto loss = [&](const TensorMap& predictions, const TensorMap& b, FrameGroup* frames) {
    return train::vggt_losses(predictions, b, weights, train::Across(frames));
  };
  std::vector<std::int64_t> peaks(p.topology.devices.size(), 0);
  for (int step = 0; step < 2; ++step) {
    runtime::clear_gradients(instance->module().parameters());
    auto r = executor.step(batch, loss);
    for (std::size_t d = 0; d < peaks.size(); ++d) peaks[d] = std::max(peaks[d], r.devices[d].peak_bytes);
  }
  return peaks;
}

}  // namespace vggt_lab::testing
