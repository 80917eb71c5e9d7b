#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "host/files.hpp"
#include "vggt_lab/data.hpp"
#include "vggt_lab/scene_folder.hpp"

namespace vggt_lab {

int command_data_export(const GlobalOptions& global, const DataExportArgs& args) {
  require_new_or_empty(args.out, "--out");
  Experiment experiment = open_experiment(global, args.file, args.overrides);
  auto source = create_plugin<DataSource>(experiment.config, "data", experiment.registry(), experiment.context());
  const Options& train = experiment.config.core("train");
  const auto seed = std::uint64_t(experiment.config.core("experiment").get<std::int64_t>("seed"));
  const std::int64_t count = std::min<std::int64_t>(args.scenes, source.call([](DataSource& s) { return s.size(); }));
  for (std::int64_t i = 0; i < count; ++i) {
    SceneRequest request{i, train.get<std::int64_t>("frames"), train.get<std::int64_t>("image_height"),
                         train.get<std::int64_t>("image_width"), 0, seed};
    Sample sample = source.call([&](DataSource& s) { return s.load(request); });
    char folder[32];
    std::snprintf(folder, sizeof folder, "scene-%04lld", static_cast<long long>(i));
    scene_folder::write(args.out / folder, sample, args.depth_scale, args.npy_depth);
    experiment.session.logger->info("[{}/{}] {} -> {}", i + 1, count, sample.scene, (args.out / folder).string());
  }
  std::cout << "wrote " << count << " scene(s) to " << args.out.string() << "\n";
  return 0;
}

}  // namespace vggt_lab
