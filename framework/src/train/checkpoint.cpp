#include "train/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "host/files.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab::train {
namespace {

std::string step_name(std::int64_t step) {
  char text[32];
  std::snprintf(text, sizeof text, "step-%06lld", static_cast<long long>(step));
  return text;
}

void sync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::filesystem::path resolve(const std::filesystem::path& where) {
  if (std::filesystem::exists(where / "state.json")) return where;
  for (auto dir : {where, where / "checkpoints"}) {
    std::ifstream latest(dir / "latest");
    std::string name;
    if (latest >> name && std::filesystem::exists(dir / name / "state.json")) return dir / name;
  }
  throw InputError("no checkpoint at " + where.string() +
                   ": expected a run folder, its checkpoints/ folder, or a checkpoints/step-<n> folder");
}

}  // namespace

std::filesystem::path save_checkpoint(const std::filesystem::path& run_dir, const NamedTensors& model,
                                      const NamedTensors& optimizer, const TrainingState& state,
                                      const std::string& plan_json) {
  const auto root = run_dir / "checkpoints";
  const auto final_dir = root / step_name(state.step);
  auto temporary = final_dir;
  temporary += ".tmp";
  std::filesystem::remove_all(temporary);
  std::filesystem::create_directories(temporary);
  save_safetensors(temporary / "model.safetensors", model, {{"format", "pt"}});
  save_safetensors(temporary / "optimizer.safetensors", optimizer);
  nlohmann::json json = {{"step", state.step},
                         {"data_position", state.data_position},
                         {"loss_scale", state.loss_scale},
                         {"scale_growth_tracker", state.scale_growth_tracker}};
  write_file_atomic(temporary / "state.json", json.dump(2) + "\n");
  write_file_atomic(temporary / "plan.json", plan_json + "\n");
  sync_dir(temporary);
  std::filesystem::remove_all(final_dir);
  std::filesystem::rename(temporary, final_dir);
  sync_dir(root);
  std::string previous;
  std::ifstream(root / "latest") >> previous;
  write_file_atomic(root / "latest", step_name(state.step) + "\n");
  // Keep the newest and the one before it.
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    auto name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && name != step_name(state.step) && name != previous) {
      std::filesystem::remove_all(entry.path());
    }
  }
  return final_dir;
}

Checkpoint load_checkpoint(const std::filesystem::path& where) {
  Checkpoint out;
  out.dir = resolve(where);
  out.model = load_safetensors(out.dir / "model.safetensors").tensors;
  out.optimizer = load_safetensors(out.dir / "optimizer.safetensors").tensors;
  std::ifstream in(out.dir / "state.json");
  nlohmann::json json;
  try {
    in >> json;
    out.state.step = json.at("step");
    out.state.data_position = json.at("data_position");
    out.state.loss_scale = json.at("loss_scale");
    out.state.scale_growth_tracker = json.at("scale_growth_tracker");
  } catch (const std::exception& e) {
    throw InputError((out.dir / "state.json").string() + ": unreadable (" + e.what() + ")");
  }
  return out;
}

}  // namespace vggt_lab::train
