#include "vggt_lab/scene_folder.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "host/files.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/geometry.hpp"
#include "vggt_lab/image_io.hpp"

namespace vggt_lab::scene_folder {
namespace {

[[noreturn]] void bad(const std::filesystem::path& file, const std::string& why) {
  throw InputError("scene " + file.parent_path().filename().string() + ": " + file.string() + ": " + why);
}

torch::Tensor matrix(const nlohmann::json& value, int rows, int cols, const std::filesystem::path& file,
                     const std::string& what) {
  if (!value.is_array() || int(value.size()) != rows) bad(file, what + " must be a " + std::to_string(rows) + "x" + std::to_string(cols) + " array");
  auto out = torch::empty({rows, cols});
  for (int r = 0; r < rows; ++r) {
    if (!value[r].is_array() || int(value[r].size()) != cols) bad(file, what + " must be a " + std::to_string(rows) + "x" + std::to_string(cols) + " array");
    for (int c = 0; c < cols; ++c) out[r][c] = value[r][c].get<double>();
  }
  return out;
}

nlohmann::json to_json(const torch::Tensor& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t r = 0; r < m.size(0); ++r) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t c = 0; c < m.size(1); ++c) row.push_back(m[r][c].item<double>());
    rows.push_back(row);
  }
  return rows;
}

torch::Tensor read_depth(const Scene& scene, const Frame& frame) {
  auto file = scene.dir / "depths" / frame.depth;
  if (!std::filesystem::exists(file)) bad(scene.dir / "cameras.json", "depth file " + file.string() + " does not exist");
  if (file.extension() == ".npy") return read_npy(file);
  return image::read_u16(file).to(torch::kFloat) * scene.depth_scale;
}

}  // namespace

Scene read_index(const std::filesystem::path& dir) {
  auto file = dir / "cameras.json";
  std::ifstream in(file);
  if (!in) throw InputError("scene " + dir.filename().string() + ": cannot read " + file.string());
  nlohmann::json json;
  try {
    in >> json;
  } catch (const std::exception& e) {
    bad(file, std::string("malformed JSON (") + e.what() + ")");
  }
  Scene scene;
  scene.dir = dir;
  scene.depth_scale = json.value("depth_scale", 0.001);
  if (!json.contains("frames") || !json["frames"].is_array() || json["frames"].empty()) {
    bad(file, "needs a non-empty \"frames\" array");
  }
  for (const auto& f : json["frames"]) {
    if (!f.contains("image") || !f.contains("extrinsics") || !f.contains("intrinsics")) {
      bad(file, "every frame needs \"image\", \"extrinsics\" and \"intrinsics\"");
    }
    scene.frames.push_back({f["image"].get<std::string>(), f.value("depth", std::string()),
                            matrix(f["extrinsics"], 3, 4, file, "extrinsics"),
                            matrix(f["intrinsics"], 3, 3, file, "intrinsics")});
  }
  return scene;
}

Sample read_frames(const Scene& scene, const std::vector<int64_t>& frames) {
  Sample sample;
  sample.scene = scene.dir.filename().string();
  std::vector<torch::Tensor> images, depths, extrinsics, intrinsics;
  for (int64_t i : frames) {
    const Frame& frame = scene.frames.at(i);
    auto image = image::read_rgb(scene.dir / "images" / frame.image);
    torch::Tensor depth = frame.depth.empty() ? torch::zeros({image.size(1), image.size(2)}) : read_depth(scene, frame);
    if (depth.sizes() != image.sizes().slice(1)) {
      bad(scene.dir / "depths" / frame.depth, "depth is " + std::to_string(depth.size(0)) + "x" +
                                                  std::to_string(depth.size(1)) + " but its image is " +
                                                  std::to_string(image.size(1)) + "x" + std::to_string(image.size(2)));
    }
    if (!images.empty() && image.sizes() != images[0].sizes()) {
      bad(scene.dir / "images" / frame.image, "all frames of a scene must have one size");
    }
    images.push_back(image);
    depths.push_back(depth);
    extrinsics.push_back(frame.extrinsics);
    intrinsics.push_back(frame.intrinsics);
  }
  sample.images = torch::stack(images);
  sample.depths = torch::stack(depths);
  sample.extrinsics = torch::stack(extrinsics);
  sample.intrinsics = torch::stack(intrinsics);
  sample.point_masks = sample.depths > 0;
  sample.world_points = geometry::depth_to_world_points(sample.depths, sample.extrinsics, sample.intrinsics) *
                        sample.point_masks.unsqueeze(-1);
  return sample;
}

void write(const std::filesystem::path& dir, const Sample& sample, double depth_scale, bool npy_depth) {
  std::filesystem::create_directories(dir / "images");
  std::filesystem::create_directories(dir / "depths");
  nlohmann::json frames = nlohmann::json::array();
  for (int64_t s = 0; s < sample.images.size(0); ++s) {
    char stem[16];
    std::snprintf(stem, sizeof stem, "%03lld", static_cast<long long>(s));
    std::string image = std::string(stem) + ".png", depth = std::string(stem) + (npy_depth ? ".npy" : ".png");
    image::write_rgb(dir / "images" / image, sample.images[s]);
    if (npy_depth) {
      write_npy(dir / "depths" / depth, sample.depths[s]);
    } else {
      image::write_u16(dir / "depths" / depth, (sample.depths[s] / depth_scale).round());
    }
    frames.push_back({{"image", image}, {"depth", depth}, {"extrinsics", to_json(sample.extrinsics[s])},
                      {"intrinsics", to_json(sample.intrinsics[s])}});
  }
  nlohmann::json index = {{"depth_scale", depth_scale}, {"frames", frames}};
  write_file_atomic(dir / "cameras.json", index.dump(1) + "\n");
}

void sample_tracks(Sample& sample, std::int64_t n, std::uint64_t seed) {
  const int64_t S = sample.depths.size(0), H = sample.depths.size(1), W = sample.depths.size(2);
  auto candidates = sample.point_masks[0].reshape(-1).nonzero().squeeze(-1);
  n = std::min<int64_t>(n, candidates.size(0));
  auto generator = at::detail::createCPUGenerator(seed);
  auto picks = candidates.index_select(0, torch::randint(std::max<int64_t>(1, candidates.size(0)), {n}, generator, torch::kLong));
  auto world = sample.world_points[0].reshape({-1, 3}).index_select(0, picks);
  auto [pixels, z] = geometry::project_points(world.unsqueeze(0).expand({S, n, 3}), sample.extrinsics, sample.intrinsics);
  auto px = pixels.select(-1, 0).round().clamp(0, W - 1).to(torch::kLong);
  auto py = pixels.select(-1, 1).round().clamp(0, H - 1).to(torch::kLong);
  auto seen = sample.depths.reshape({S, -1}).gather(1, py * W + px);
  auto inside = (pixels.select(-1, 0) >= 0) & (pixels.select(-1, 0) <= W - 1) & (pixels.select(-1, 1) >= 0) &
                (pixels.select(-1, 1) <= H - 1) & (z > 0);
  sample.tracks = pixels;
  sample.track_masks = inside & ((seen - z).abs() < 0.02 * z + 0.02);
}

void fit(Sample& sample, std::int64_t height, std::int64_t width) {
  namespace F = torch::nn::functional;
  const int64_t h0 = sample.images.size(2), w0 = sample.images.size(3);
  if (h0 == height && w0 == width) return;
  const double scale = std::max(double(height) / double(h0), double(width) / double(w0));
  const int64_t h1 = std::max<int64_t>(height, std::llround(h0 * scale)), w1 = std::max<int64_t>(width, std::llround(w0 * scale));
  const int64_t top = (h1 - height) / 2, left = (w1 - width) / 2;
  auto images = F::interpolate(sample.images, F::InterpolateFuncOptions().size(std::vector<int64_t>{h1, w1})
                                                  .mode(torch::kBilinear).align_corners(false).antialias(scale < 1));
  auto depths = F::interpolate(sample.depths.unsqueeze(1), F::InterpolateFuncOptions().size(std::vector<int64_t>{h1, w1})
                                                               .mode(torch::kNearest)).squeeze(1);
  sample.images = images.slice(2, top, top + height).slice(3, left, left + width).clamp(0, 1).contiguous();
  sample.depths = depths.slice(1, top, top + height).slice(2, left, left + width).contiguous();
  auto K = sample.intrinsics.clone();
  const double sy = double(h1) / double(h0), sx = double(w1) / double(w0);
  K.select(1, 0).select(1, 0).mul_(sx);
  K.select(1, 1).select(1, 1).mul_(sy);
  K.select(1, 0).select(1, 2).mul_(sx).sub_(double(left));
  K.select(1, 1).select(1, 2).mul_(sy).sub_(double(top));
  sample.intrinsics = K;
  sample.point_masks = sample.depths > 0;
  sample.world_points = geometry::depth_to_world_points(sample.depths, sample.extrinsics, sample.intrinsics) *
                        sample.point_masks.unsqueeze(-1);
}

torch::Tensor read_npy(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0) bad(file, "not a .npy file");
  std::size_t header_length = std::size_t(uint8_t(data[8])) | (std::size_t(uint8_t(data[9])) << 8);
  std::string header = data.substr(10, header_length);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos) {
    bad(file, "must hold little-endian float32 in C order");
  }
  auto open = header.find('('), close = header.find(')');
  std::vector<int64_t> shape;
  std::string dims = header.substr(open + 1, close - open - 1);
  for (std::size_t start = 0; start < dims.size();) {
    std::size_t comma = dims.find(',', start);
    std::string part = dims.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.find_first_of("0123456789") != std::string::npos) shape.push_back(std::stoll(part));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  auto tensor = torch::empty(shape, torch::kFloat);
  if (data.size() < 10 + header_length + std::size_t(tensor.nbytes())) bad(file, "is truncated");
  std::memcpy(tensor.data_ptr(), data.data() + 10 + header_length, tensor.nbytes());
  return tensor;
}

void write_npy(const std::filesystem::path& file, const torch::Tensor& tensor) {
  auto t = tensor.to(torch::kFloat).contiguous();
  std::string shape;
  for (int64_t d : t.sizes()) shape += std::to_string(d) + ", ";
  if (t.dim() > 1) shape.erase(shape.size() - 2);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += char(header.size() & 0xFF);
  out += char(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  write_file_atomic(file, out);
}

}  // namespace vggt_lab::scene_folder
