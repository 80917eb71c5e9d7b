#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "host/files.hpp"
#include "io/inference_io.hpp"
#include "runtime/executor.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"
#include "vggt_lab/geometry.hpp"
#include "vggt_lab/image_io.hpp"
#include "vggt_lab/scene_folder.hpp"
#include "vggt_lab/state_dict.hpp"

namespace vggt_lab {

int command_infer(const GlobalOptions& global, const InferArgs& args) {
  require_new_or_empty(args.out, "--out");  // a scene folder's cameras and depths are never overwritten
  Experiment experiment = open_experiment(global, args.config, args.overrides);
  const Options& train_options = experiment.config.core("train");
  auto [images, stems] = io::read_image_folder(args.images, train_options.get<std::int64_t>("image_width"),
                                               train_options.get<std::int64_t>("image_height"),
                                               train_options.get<std::int64_t>("patch_size"));
  PlanInputs in = plan_inputs(experiment);
  auto placement = experiment.config.plugin("placement")
                       ? create_plugin<Placement>(experiment.config, "placement", experiment.registry(),
                                                  experiment.context())
                       : experiment.registry().create<Placement>("single", Options{}, experiment.context());
  const InputShape shape{1, images.size(1), images.size(3), images.size(4), 0};  // the images' own
  PlanReport plan = make_plan(in.model, placement, in.topology, shape, in.memory);
  if (!plan.problems.empty()) throw InputError("the plan does not fit:\n" + plan_text(plan));
  auto instance = train::build_model(in.model, train_options);
  if (args.checkpoint) {
    const NamedTensors weights = train::model_weights(*args.checkpoint);
    LoadReport report;
    try {
      report = load_state_dict(instance->module(), weights, true, args.checkpoint->string());
    } catch (const InputError& e) {
      throw InputError(std::string(e.what()) + " (a run's model options are [model] in its config.resolved.toml; "
                       "--config " + args.config.string() + " gives these)");
    }
    experiment.session.logger->info("weights from {}: {}", args.checkpoint->string(), report.summary());
    for (const auto& item : instance->module().named_parameters()) {
      if (torch::isfinite(item.value()).all().item<bool>()) continue;
      experiment.session.logger->warn("{}: parameter '{}' is not finite (a diverged run?); the predictions will be too",
                                      args.checkpoint->string(), item.key());
      break;
    }
  }
  instance->module().eval();
  runtime::RuntimeOptions options;
  options.replica = [&] { return train::build_model(in.model, train_options); };
  runtime::Executor executor(instance, plan.graph, plan.plan, plan.topology,
                             std::make_shared<runtime::InProcessTransport>(plan.topology), options);
  TensorMap predictions = executor.predict({{"images", images}}).predictions;

  std::filesystem::create_directories(args.out / "images");
  std::filesystem::create_directories(args.out / "depths");
  std::filesystem::create_directories(args.out / "previews");
  const int64_t S = images.size(1), H = images.size(3), W = images.size(4);
  // A field of view of 0 (its ReLU's floor) would make the focal length
  // infinite; 1 degree keeps the written cameras finite.
  auto encoding = predictions.at("pose_enc")[0].clone();
  encoding.slice(-1, 7).clamp_(0.0174533, 3.1241393);
  auto [extrinsics, intrinsics] = geometry::pose_encoding_to_extri_intri(encoding, H, W);
  torch::Tensor depth = predictions.count("depth") ? predictions.at("depth")[0].squeeze(-1) : torch::Tensor();
  torch::Tensor conf = depth.defined() ? predictions.at("depth_conf")[0] : predictions.at("world_points_conf")[0];
  torch::Tensor points = depth.defined() ? geometry::depth_to_world_points(depth, extrinsics, intrinsics)
                                         : predictions.at("world_points")[0];
  const double depth_scale = depth.defined() ? std::max(depth.max().item<double>() / 60000.0, 1e-9) : 1.0;
  nlohmann::json frames = nlohmann::json::array();
  auto matrix = [](const torch::Tensor& m) {
    nlohmann::json rows = nlohmann::json::array();
    for (int64_t r = 0; r < m.size(0); ++r) rows.push_back(std::vector<double>(m[r].data_ptr<float>(), m[r].data_ptr<float>() + m.size(1)));
    return rows;
  };
  for (int64_t s = 0; s < S; ++s) {
    const std::string png = stems[s] + ".png";
    image::write_rgb(args.out / "images" / png, images[0][s]);
    if (depth.defined()) {
      image::write_u16(args.out / "depths" / png, (depth[s] / depth_scale).round());
      image::write_rgb(args.out / "previews" / (stems[s] + "_depth.png"), io::colorize(depth[s], torch::ones_like(depth[s], torch::kBool)));
    }
    auto log_conf = torch::log(conf[s]);
    image::write_rgb(args.out / "previews" / (stems[s] + "_confidence.png"),
                     (log_conf / std::max(log_conf.max().item<double>(), 1e-9)).unsqueeze(0).expand({3, H, W}));
    frames.push_back({{"image", png}, {"depth", depth.defined() ? png : ""},
                      {"extrinsics", matrix(extrinsics[s].contiguous())}, {"intrinsics", matrix(intrinsics[s].contiguous())}});
  }
  nlohmann::json cameras = {{"depth_scale", depth_scale}, {"frames", frames}};
  write_file_atomic(args.out / "cameras.json", cameras.dump(1) + "\n");
  auto threshold = torch::quantile(conf.reshape(-1), args.conf_percentile / 100.0).item<double>();
  auto keep = (conf >= threshold) & torch::isfinite(points).all(-1);
  if (keep.sum().item<int64_t>() == 0) {
    experiment.session.logger->warn("no finite point to write: the predicted points or confidences are not finite");
  }
  auto colors = images[0].permute({0, 2, 3, 1});
  io::write_ply(args.out / "points.ply", points.index({keep}), colors.index({keep}));
  std::cout << "wrote to " << args.out.string() << ":\n"
            << "  images/       " << S << " input frame(s) at " << H << "x" << W << "\n"
            << (depth.defined() ? "  depths/       16-bit depth PNGs (metres = value x depth_scale in cameras.json)\n" : "")
            << "  previews/     colourised depth and confidence\n"
            << "  cameras.json  predicted extrinsics (OpenCV camera-from-world) and intrinsics\n"
            << "  points.ply    " << keep.sum().item<int64_t>() << " coloured points (confidence above its "
            << args.conf_percentile << "th percentile)\n";
  return 0;
}

}  // namespace vggt_lab
