// `scene-folder`: scenes read from disk in the layout of
// vggt_lab/scene_folder.hpp (images, depth, cameras.json), so users train on
// real captures. Frames are a run of consecutive ones from a random start (as
// upstream's get_nearby), resized and centre-cropped to the step's size.
#include <spdlog/spdlog.h>

#include <random>
#include <vggt_lab/data.hpp>
#include <vggt_lab/plugin.hpp>
#include <vggt_lab/scene_folder.hpp>

namespace {

namespace sf = vggt_lab::scene_folder;

class SceneFolder : public vggt_lab::DataSource {
 public:
  SceneFolder(std::vector<sf::Scene> scenes, bool skip_bad, std::shared_ptr<spdlog::logger> logger)
      : scenes_(std::move(scenes)), skip_bad_(skip_bad), logger_(std::move(logger)) {}

  int64_t size() const override { return int64_t(scenes_.size()); }

  vggt_lab::Sample load(const vggt_lab::SceneRequest& request) const override {
    std::string first_error;
    for (int64_t attempt = 0; attempt < size(); ++attempt) {
      const sf::Scene& scene = scenes_[(request.index + attempt) % size()];
      try {
        return load(scene, request);
      } catch (const vggt_lab::InputError& e) {
        if (!skip_bad_) throw;
        if (logger_) logger_->warn("skipping a scene: {}", e.what());
        if (first_error.empty()) first_error = e.what();
      }
    }
    throw vggt_lab::InputError("every scene failed to load; the first: " + first_error);
  }

 private:
  vggt_lab::Sample load(const sf::Scene& scene, const vggt_lab::SceneRequest& request) const {
    const int64_t available = int64_t(scene.frames.size());
    std::mt19937_64 rng(request.seed);
    std::vector<int64_t> frames;
    int64_t start = std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(0, available - request.frames))(rng);
    for (int64_t i = 0; i < request.frames; ++i) frames.push_back((start + i) % available);  // repeats when short
    vggt_lab::Sample sample = sf::read_frames(scene, frames);
    sf::fit(sample, request.height, request.width);
    sf::sample_tracks(sample, request.tracks, rng());
    return sample;
  }

  std::vector<sf::Scene> scenes_;
  bool skip_bad_;
  std::shared_ptr<spdlog::logger> logger_;
};

std::vector<sf::Scene> discover(const std::filesystem::path& root, bool skip_bad, spdlog::logger* logger) {
  if (!std::filesystem::is_directory(root)) {
    throw vggt_lab::InputError("[data] root: folder " + root.string() + " does not exist");
  }
  std::vector<std::filesystem::path> dirs;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "cameras.json")) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) {
    throw vggt_lab::InputError("[data] root: no scene in " + root.string() +
                               " (a scene is a folder with cameras.json, images/ and depths/; see `vggt-lab plugins show data scene-folder`)");
  }
  std::vector<sf::Scene> scenes;
  for (const auto& dir : dirs) {
    try {
      scenes.push_back(sf::read_index(dir));
    } catch (const vggt_lab::InputError& e) {
      if (!skip_bad) throw;
      if (logger) logger->warn("skipping a scene: {}", e.what());
    }
  }
  if (scenes.empty()) throw vggt_lab::InputError("[data] root: no readable scene in " + root.string());
  return scenes;
}

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "scene-folder";
  info.version = "1.0";
  info.summary = "Scenes from disk: images, depth (16-bit PNG or .npy) and cameras.json";
  info.doc =
      "Layout, one folder per scene under `root`:\n"
      "  <scene>/images/<frame>.png|.jpg\n"
      "  <scene>/depths/<frame>.png (16-bit, metres = value x depth_scale) or <frame>.npy (float32)\n"
      "  <scene>/cameras.json: {\"depth_scale\": 0.001, \"frames\": [{\"image\": \"000.png\",\n"
      "     \"depth\": \"000.png\", \"extrinsics\": 3x4 OpenCV camera-from-world,\n"
      "     \"intrinsics\": 3x3}, ...]}\n"
      "`vggt-lab data export` writes synthetic scenes in this layout. A scene that cannot be\n"
      "read (missing image, depth of another size, malformed cameras.json) stops training with\n"
      "an error naming the scene and file, or, with on_error = \"skip\", is skipped with a warning.";
  info.schema.string("root", "", "Folder holding the scenes, relative to the file that names it")
      .as_path()
      .string("on_error", "stop", "stop, or skip a scene that cannot be read (with a warning)", {"stop", "skip"});
  registrar.add<vggt_lab::DataSource>(std::move(info), [](const vggt_lab::Options& o, const vggt_lab::PluginContext& c) {
    std::filesystem::path root = o.get<std::string>("root");
    if (root.empty()) throw vggt_lab::InputError("[data] root: name the folder that holds the scenes");
    const bool skip_bad = o.get<std::string>("on_error") == "skip";
    return std::make_unique<SceneFolder>(discover(root, skip_bad, c.logger.get()), skip_bad, c.logger);
  });
}

}  // namespace

VGGT_LAB_PLUGIN("data", "scene-folder", "1.0", register_plugins)
