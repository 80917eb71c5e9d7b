#include "train/loader.hpp"

#include <random>

#include "vggt_lab/error.hpp"
#include "vggt_lab/geometry.hpp"

namespace vggt_lab::train {
namespace {

torch::Tensor homogeneous(const torch::Tensor& extrinsics) {  // [S, 3, 4] -> [S, 4, 4]
  auto bottom = torch::zeros({extrinsics.size(0), 1, 4});
  bottom.select(2, 3).fill_(1);
  return torch::cat({extrinsics, bottom}, 1);
}

torch::Tensor grayscale_of(const torch::Tensor& image) {  // [3, H, W]
  auto y = 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2];
  return y.unsqueeze(0).expand_as(image);
}

torch::Tensor gaussian_blur(const torch::Tensor& image, double sigma) {
  auto x = torch::arange(-2, 3, torch::kFloat);
  auto k = torch::exp(-x * x / (2 * sigma * sigma));
  k = k / k.sum();
  auto kernel = torch::outer(k, k).expand({3, 1, 5, 5}).contiguous();
  auto padded = torch::nn::functional::pad(image.unsqueeze(0), torch::nn::functional::PadFuncOptions({2, 2, 2, 2}).mode(torch::kReflect));
  namespace F = torch::nn::functional;
  return F::conv2d(padded, kernel, F::Conv2dFuncOptions().groups(3)).squeeze(0);
}

void augment(torch::Tensor& images, const LoaderOptions& o, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  for (int64_t s = 0; s < images.size(0); ++s) {
    auto image = images[s];
    if (o.color_jitter > 0 && u(rng) < 0.9) {
      auto factor = [&] { return 1 + o.color_jitter * (2 * u(rng) - 1); };
      image = image * factor();                                              // brightness
      image = (image - image.mean()) * factor() + image.mean();              // contrast
      image = grayscale_of(image) + (image - grayscale_of(image)) * factor();  // saturation
    }
    if (o.grayscale > 0 && u(rng) < o.grayscale) image = grayscale_of(image);
    if (o.blur > 0 && u(rng) < o.blur) image = gaussian_blur(image, 0.1 + 1.9 * u(rng));
    images[s] = image.clamp(0, 1);
  }
}

}  // namespace

void normalize_scene(Sample& sample) {
  auto E = homogeneous(sample.extrinsics);
  auto first_inverse = torch::linalg_inv(E[0]);
  sample.extrinsics = torch::matmul(E, first_inverse).slice(1, 0, 3);
  auto R0 = E[0].slice(0, 0, 3).slice(1, 0, 3), t0 = E[0].slice(0, 0, 3).select(1, 3);
  auto mask = sample.point_masks.unsqueeze(-1).to(torch::kFloat);
  auto points = (torch::matmul(sample.world_points, R0.t()) + t0) * mask;
  auto scale = ((points.norm(2, -1) * sample.point_masks).sum() / (sample.point_masks.sum() + 1e-3))
                   .clamp(1e-6, 1e6);
  sample.extrinsics.select(2, 3).div_(scale);
  sample.depths = sample.depths / scale;
  sample.world_points = points / scale;
}

TensorMap make_batch(const DataSource& source, const LoaderOptions& o, std::int64_t step) {
  // Every rank draws the step's shape alike, so no rank waits for a larger one at the all-reduce.
  std::seed_seq shape_seq{uint64_t(o.seed), uint64_t(step), uint64_t(0x5ba9e)};
  std::mt19937_64 shape_rng(shape_seq);
  const int64_t S = std::uniform_int_distribution<int64_t>(o.min_frames, std::max(o.min_frames, o.max_frames))(shape_rng);
  const double aspect =
      std::uniform_real_distribution<double>(o.min_aspect, std::max(o.min_aspect, o.max_aspect))(shape_rng);
  std::seed_seq seq{uint64_t(o.seed), uint64_t(step), uint64_t(o.rank), uint64_t(0xba7c4)};
  std::mt19937_64 rng(seq);
  const int64_t W = o.width;
  const int64_t H = std::clamp<int64_t>(int64_t(double(W) * aspect) / o.patch * o.patch, o.patch, o.max_height);
  const int64_t B = std::max<int64_t>(1, o.images_per_step / S);
  std::vector<Sample> samples;
  for (int64_t b = 0; b < B; ++b) {
    int64_t index = std::uniform_int_distribution<int64_t>(0, source.size() - 1)(rng);
    // Ranks see different scenes: shard the draw by rank.
    index = (index * o.world_size + o.rank) % source.size();
    Sample sample = source.load({index, S, H, W, o.tracks, rng()});
    normalize_scene(sample);
    augment(sample.images, o, rng);
    samples.push_back(std::move(sample));
  }
  auto stack = [&](torch::Tensor Sample::*field) {
    std::vector<torch::Tensor> parts;
    for (const auto& s : samples) parts.push_back(s.*field);
    return torch::stack(parts);
  };
  TensorMap batch{{"images", stack(&Sample::images)},         {"depths", stack(&Sample::depths)},
                  {"extrinsics", stack(&Sample::extrinsics)}, {"intrinsics", stack(&Sample::intrinsics)},
                  {"world_points", stack(&Sample::world_points)}, {"point_masks", stack(&Sample::point_masks)}};
  if (o.tracks > 0) {
    batch["tracks"] = stack(&Sample::tracks);
    batch["track_masks"] = stack(&Sample::track_masks);
    batch["query"] = batch["tracks"].select(1, 0).contiguous();
  }
  return batch;
}

BatchLoader::BatchLoader(std::shared_ptr<const DataSource> source, LoaderOptions options, std::int64_t first_step)
    : source_(std::move(source)), options_(options), next_(first_step), claimed_(first_step) {
  if (source_->size() <= 0) throw InputError("the data source has no scenes");
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { produce(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& w : workers_) w.join();
}

void BatchLoader::produce() {
  at::set_num_threads(1);
  while (true) {
    std::int64_t step;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || claimed_ < next_ + options_.prefetch; });
      if (stopping_) return;
      step = claimed_++;
    }
    TensorMap batch;
    std::string error;
    try {
      batch = make_batch(*source_, options_, step);
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error.empty() && error_.empty()) error_ = error;
    ready_[step] = std::move(batch);
    changed_.notify_all();
  }
}

TensorMap BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return ready_.count(next_) || !error_.empty(); });
  if (!error_.empty()) throw InputError("data: " + error_);
  TensorMap batch = std::move(ready_[next_]);
  ready_.erase(next_++);
  changed_.notify_all();
  return batch;
}

LoaderOptions loader_options(const Options& t, std::uint64_t seed) {
  LoaderOptions o;
  o.max_frames = t.get<std::int64_t>("frames");
  o.min_frames = t.get<std::int64_t>("min_frames") > 0 ? std::min(t.get<std::int64_t>("min_frames"), o.max_frames) : o.max_frames;
  o.images_per_step = t.get<std::int64_t>("batch_size") * o.max_frames;
  o.width = t.get<std::int64_t>("image_width");
  o.max_height = t.get<std::int64_t>("image_height");
  o.patch = t.get<std::int64_t>("patch_size");
  o.min_aspect = t.get<double>("min_aspect");
  o.max_aspect = t.get<double>("max_aspect");
  o.tracks = t.get<std::int64_t>("track_queries");
  o.seed = seed;
  o.color_jitter = t.get<double>("color_jitter");
  o.grayscale = t.get<double>("grayscale");
  o.blur = t.get<double>("blur");
  o.prefetch = int(t.get<std::int64_t>("prefetch"));
  o.workers = int(t.get<std::int64_t>("data_workers"));
  return o;
}

LoaderOptions planned_loader_options(const Options& train) {
  LoaderOptions o = loader_options(train, 0);
  o.min_frames = o.max_frames;
  o.min_aspect = o.max_aspect = double(o.max_height) / double(o.width);
  o.color_jitter = o.grayscale = o.blur = 0;
  return o;
}

}  // namespace vggt_lab::train
