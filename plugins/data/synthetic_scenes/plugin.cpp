// `synthetic-scenes`: procedural multi-view scenes with exact cameras, depth,
// world points and tracks, rendered in C++ at any size and frame count.
#include <vggt_lab/data.hpp>
#include <vggt_lab/plugin.hpp>

#include "renderer.hpp"

namespace {

class SyntheticScenes : public vggt_lab::DataSource {
 public:
  SyntheticScenes(int64_t scenes, synthetic::Options options) : scenes_(scenes), options_(options) {}
  int64_t size() const override { return scenes_; }
  vggt_lab::Sample load(const vggt_lab::SceneRequest& request) const override {
    return synthetic::render_sample(request, options_);
  }

 private:
  int64_t scenes_;
  synthetic::Options options_;
};

void register_plugins(vggt_lab::Registrar& registrar) {
  vggt_lab::PluginInfo info;
  info.name = "synthetic-scenes";
  info.version = "1.0";
  info.summary = "Procedural scenes ray-cast in C++: exact cameras, depth, points and tracks";
  info.doc =
      "Each scene is a textured ground plane with boxes and spheres (own colours and\n"
      "patterns), lit by a sun and a sky gradient, seen by S cameras orbiting it with\n"
      "varied distance, height and field of view. Depth is the camera z of the nearest hit\n"
      "(0 for sky); world points unproject it exactly; tracks are points seen in frame 0,\n"
      "projected into every frame and visible where no nearer surface hides them. A scene\n"
      "is a pure function of (seed, index).";
  info.schema.integer("scenes", 1000, "Number of distinct scenes", 1.0)
      .integer("objects", 5, "Boxes and spheres per scene", 0.0, 64.0)
      .number("min_fov", 45.0, "Smallest vertical field of view in degrees", 10.0, 120.0)
      .number("max_fov", 65.0, "Largest vertical field of view in degrees", 10.0, 120.0);
  registrar.add<vggt_lab::DataSource>(
      std::move(info), [](const vggt_lab::Options& o, const vggt_lab::PluginContext&) {
        synthetic::Options options;
        options.objects = int(o.get<std::int64_t>("objects"));
        options.min_fov_deg = float(o.get<double>("min_fov"));
        options.max_fov_deg = float(std::max(o.get<double>("max_fov"), o.get<double>("min_fov")));
        return std::make_unique<SyntheticScenes>(o.get<std::int64_t>("scenes"), options);
      });
}

}  // namespace

VGGT_LAB_PLUGIN("data", "synthetic-scenes", "1.0", register_plugins)
