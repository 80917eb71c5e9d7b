#pragma once
// Batches as the official trainer builds them: each step draws a frame count
// S and an aspect ratio, takes max(1, floor(images_per_step / S)) scenes,
// renders or reads them at that size, expresses everything in the first
// camera's frame scaled by the mean distance of valid points, augments the
// images, and collates [B, S, ...] tensors. Deterministic per (seed, step,
// rank); prepared ahead on background threads.
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "vggt_lab/data.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/options.hpp"

namespace vggt_lab::train {

struct LoaderOptions {
  std::int64_t min_frames = 2, max_frames = 8;
  std::int64_t images_per_step = 8;  // batch = max(1, images_per_step / S)
  std::int64_t width = 518, max_height = 518, patch = 14;
  double min_aspect = 1.0, max_aspect = 1.0;  // height / width
  std::int64_t tracks = 0;
  std::uint64_t seed = 42;
  double color_jitter = 0, grayscale = 0, blur = 0;  // strength, probability, probability
  int prefetch = 2, workers = 1;
  std::int64_t rank = 0, world_size = 1;  // data sharded by rank
};

/// Loader settings from [train]; `seed` picks the stream of scenes.
VGGT_LAB_API LoaderOptions loader_options(const Options& train, std::uint64_t seed);

/// Settings that give batches of exactly the planned step shape ([train]
/// batch_size x frames of image_height x image_width), unaugmented: for
/// profiles and benchmarks.
VGGT_LAB_API LoaderOptions planned_loader_options(const Options& train);

/// The batch of one step: images, depths, extrinsics, intrinsics,
/// world_points, point_masks (bool), tracks, track_masks, and query
/// (= tracks in frame 0) when tracks are asked for.
VGGT_LAB_API TensorMap make_batch(const DataSource& source, const LoaderOptions& options, std::int64_t step);

/// First camera as the world, scaled by the mean distance of valid points
/// (upstream's normalize_camera_extrinsics_and_points_batch), in place.
VGGT_LAB_API void normalize_scene(Sample& sample);

class VGGT_LAB_API BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const DataSource> source, LoaderOptions options, std::int64_t first_step = 0);
  ~BatchLoader();
  /// The next step's batch (blocks until it is ready).
  TensorMap next();
  std::int64_t position() const { return next_; }

 private:
  void produce();
  std::shared_ptr<const DataSource> source_;
  LoaderOptions options_;
  std::int64_t next_, claimed_;
  std::map<std::int64_t, TensorMap> ready_;
  std::string error_;
  bool stopping_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::thread> workers_;
};

}  // namespace vggt_lab::train
