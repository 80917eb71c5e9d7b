#include "train/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "host/files.hpp"
#include "io/checksum.hpp"
#include "io/tensor_specs.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab::train {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string> kFiles = {"model.safetensors", "optimizer.safetensors", "plan.json"};

std::string step_name(std::int64_t step) {
  char text[32];
  std::snprintf(text, sizeof text, "step-%06lld", static_cast<long long>(step));
  return text;
}

void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

json file_records(const fs::path& dir) {
  json files = json::object();
  for (const auto& name : kFiles) {
    files[name] = {{"bytes", fs::file_size(dir / name)}, {"crc32c", file_crc32c(dir / name)}};
  }
  return files;
}

std::optional<json> read_state(const fs::path& dir, std::string& problem) {
  std::ifstream in(dir / "state.json");
  if (!in) {
    problem = (dir / "state.json").string() + " is missing";
    return std::nullopt;
  }
  try {
    json state;
    in >> state;
    return state;
  } catch (const std::exception& e) {
    problem = (dir / "state.json").string() + " is unreadable (" + e.what() + ")";
    return std::nullopt;
  }
}

/// What is wrong with a step folder, or nothing.
std::optional<std::string> damage(const fs::path& dir, const json& state) {
  if (!state.contains("files")) return std::nullopt;  // written before checksums
  for (const auto& [name, record] : state.at("files").items()) {
    const fs::path file = dir / name;
    if (!fs::exists(file)) return file.string() + " is missing";
    if (fs::file_size(file) != record.at("bytes").get<std::uintmax_t>()) {
      return file.string() + " has " + std::to_string(fs::file_size(file)) + " bytes, the checkpoint wrote " +
             std::to_string(record.at("bytes").get<std::uintmax_t>());
    }
    if (file_crc32c(file) != record.at("crc32c").get<std::uint32_t>()) {
      return file.string() + " is corrupt (its CRC-32C differs from the one recorded when it was written)";
    }
  }
  return std::nullopt;
}

/// Why a step folder cannot be resumed from, or nothing.
std::optional<std::string> unusable(const fs::path& dir, json& state) {
  std::string problem;
  auto read = read_state(dir, problem);
  if (!read) return problem;
  state = *read;
  if (auto wrong = damage(dir, state)) return wrong;
  if (!state.value("finite", true)) return dir.string() + " holds non-finite parameters";
  return std::nullopt;
}

/// Step folders under `root`, newest first.
std::vector<fs::path> step_dirs(const fs::path& root) {
  std::vector<fs::path> dirs;
  if (!fs::is_directory(root)) return dirs;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step-", 0) == 0 && entry.path().extension() != ".tmp") {
      dirs.push_back(entry.path());
    }
  }
  std::sort(dirs.rbegin(), dirs.rend());
  return dirs;
}

/// `latest` first, then every other step folder, newest first.
std::vector<fs::path> candidates(const fs::path& root) {
  std::vector<fs::path> out;
  std::string latest;
  if (std::ifstream(root / "latest") >> latest && fs::is_directory(root / latest)) out.push_back(root / latest);
  for (const auto& dir : step_dirs(root)) {
    if (out.empty() || dir != out.front()) out.push_back(dir);
  }
  return out;
}

bool finite_state(const fs::path& dir) {
  std::string problem;
  auto state = read_state(dir, problem);
  return state && state->value("finite", true);
}

void prune(const fs::path& root, int keep) {
  const auto dirs = step_dirs(root);
  bool kept_finite = false;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const bool finite = finite_state(dirs[i]);
    const bool keep_this = int(i) < keep || (finite && !kept_finite);
    kept_finite = kept_finite || (finite && keep_this);
    if (!keep_this) fs::remove_all(dirs[i]);
  }
}

TrainingState parse_state(const json& j) {
  TrainingState s;
  s.step = j.at("step");
  s.data_position = j.at("data_position");
  s.loss_scale = j.at("loss_scale");
  s.scale_growth_tracker = j.at("scale_growth_tracker");
  s.finite = j.value("finite", true);
  return s;
}

LocatedCheckpoint located(const fs::path& dir, const json& state) {
  LocatedCheckpoint out;
  out.dir = dir;
  try {
    out.state = parse_state(state);
  } catch (const std::exception& e) {
    throw InputError((dir / "state.json").string() + ": unreadable (" + e.what() + ")");
  }
  return out;
}

/// The step folder's files, written into `dir` and flushed.
void write_step(const fs::path& dir, const NamedTensors& model, const NamedTensors& optimizer,
                const TrainingState& state, const std::string& plan_json) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  save_safetensors(dir / "model.safetensors", model, {{"format", "pt"}});
  save_safetensors(dir / "optimizer.safetensors", optimizer);
  write_file_atomic(dir / "plan.json", plan_json + "\n");
  json j = {{"step", state.step},
            {"data_position", state.data_position},
            {"loss_scale", state.loss_scale},
            {"scale_growth_tracker", state.scale_growth_tracker},
            {"finite", state.finite},
            {"files", file_records(dir)}};
  write_file_atomic(dir / "state.json", j.dump(2) + "\n");
  sync_dir(dir);
}

/// What a run whose checkpoint could not be written can do next.
std::string after_failed_save(const fs::path& run_dir) {
  std::ifstream latest(run_dir / "checkpoints" / "latest");
  std::string newest;
  if (!std::getline(latest, newest)) {
    return "No checkpoint of this run was saved: make room (or mend what stopped the write) and start it again";
  }
  return "The newest saved checkpoint is " + newest + ": make room (or mend what stopped the write), then "
         "`vggt-lab run --resume " + run_dir.string() + "` continues from it";
}

}  // namespace

fs::path save_checkpoint(const fs::path& run_dir, const NamedTensors& model, const NamedTensors& optimizer,
                         const TrainingState& state, const std::string& plan_json, int keep) {
  const auto root = run_dir / "checkpoints";
  const auto final_dir = root / step_name(state.step);
  auto temporary = final_dir;
  temporary += ".tmp";
  try {
    write_step(temporary, model, optimizer, state, plan_json);
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove_all(temporary, ignored);
    throw Error("the checkpoint of step " + std::to_string(state.step) + " was not saved: " + e.what() + ". " +
                after_failed_save(run_dir));
  }
  fs::remove_all(final_dir);
  fs::rename(temporary, final_dir);
  sync_dir(root);
  write_file_atomic(root / "latest", step_name(state.step) + "\n");
  prune(root, std::max(1, keep));
  return final_dir;
}

LocatedCheckpoint locate_checkpoint(const fs::path& where) {
  json state;
  if (fs::exists(where / "state.json")) {  // this step folder and no other
    if (auto problem = unusable(where, state)) {
      throw InputError("cannot resume from " + where.string() + ": " + *problem +
                       "; name the run folder instead to resume from its newest intact checkpoint");
    }
    return located(where, state);
  }
  const fs::path root = fs::is_directory(where / "checkpoints") ? where / "checkpoints" : where;
  std::vector<std::string> passed_over;
  for (const auto& dir : candidates(root)) {
    if (auto problem = unusable(dir, state)) {
      passed_over.push_back(*problem);
      continue;
    }
    LocatedCheckpoint out = located(dir, state);
    out.passed_over = std::move(passed_over);
    return out;
  }
  std::string why;
  for (const auto& p : passed_over) why += "\n  " + p;
  throw InputError("no intact checkpoint at " + where.string() +
                   (passed_over.empty() ? ": expected a run folder, its checkpoints/ folder, or a checkpoints/step-<n> folder"
                                        : ":" + why));
}

void check_weights_match(const LocatedCheckpoint& at, const std::vector<TensorSpec>& model) {
  const fs::path file = at.dir / "model.safetensors";
  std::vector<std::string> names;
  for (const TensorSpec& t : model) names.push_back(t.name);
  require_match(match_specs(safetensors_specs(file), model, names), file.string(),
                "The [model] options must be those the weights were written with (the run's own are in its "
                "config.resolved.toml)");
}

Checkpoint read_checkpoint(const LocatedCheckpoint& at) {
  Checkpoint out;
  static_cast<LocatedCheckpoint&>(out) = at;
  out.model = load_safetensors(at.dir / "model.safetensors").tensors;
  out.optimizer = load_safetensors(at.dir / "optimizer.safetensors").tensors;
  return out;
}

Checkpoint load_checkpoint(const fs::path& where) { return read_checkpoint(locate_checkpoint(where)); }

NamedTensors model_weights(const fs::path& where) {
  if (fs::is_directory(where)) return load_checkpoint(where).model;
  return load_state_dict_file(where);
}

}  // namespace vggt_lab::train
