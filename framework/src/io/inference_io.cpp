#include "io/inference_io.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "host/files.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/image_io.hpp"

namespace vggt_lab::io {

namespace F = torch::nn::functional;

ImageFolder read_image_folder(const std::filesystem::path& dir, std::int64_t width, std::int64_t max_height,
                              std::int64_t patch) {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(dir)) throw InputError(dir.string() + ": not a folder; give a folder of .png or .jpg images");
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto ext = entry.path().extension().string();
    for (auto& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(dir.string() + ": no .png or .jpg images in this folder");
  std::vector<torch::Tensor> images;
  std::vector<std::string> stems;
  int64_t height = 0;
  for (const auto& file : files) {
    auto image = image::read_rgb(file);
    if (height == 0) height = std::max<int64_t>(patch, std::llround(double(image.size(1)) * width / image.size(2) / patch) * patch);
    int64_t h = std::llround(double(image.size(1)) * width / image.size(2));
    auto resized = F::interpolate(image.unsqueeze(0), F::InterpolateFuncOptions().size(std::vector<int64_t>{std::max(h, height), width})
                                                          .mode(torch::kBicubic).align_corners(false)).squeeze(0).clamp(0, 1);
    int64_t top = (resized.size(1) - std::min(height, max_height)) / 2;
    images.push_back(resized.slice(1, top, top + std::min(height, max_height)));
    stems.push_back(file.stem().string());
  }
  return {torch::stack(images).unsqueeze(0), stems};
}

torch::Tensor colorize(const torch::Tensor& value, const torch::Tensor& valid) {
  auto v = value.clone();
  double lo = v.index({valid}).numel() ? v.index({valid}).min().item<double>() : 0;
  double hi = v.index({valid}).numel() ? v.index({valid}).max().item<double>() : 1;
  auto t = ((v - lo) / std::max(hi - lo, 1e-9)).clamp(0, 1);
  auto r = (1.5 - (4 * t - 3).abs()).clamp(0, 1), g = (1.5 - (4 * t - 2).abs()).clamp(0, 1),
       b = (1.5 - (4 * t - 1).abs()).clamp(0, 1);
  return torch::stack({r, g, b}) * valid.unsqueeze(0);
}

void write_ply(const std::filesystem::path& file, const torch::Tensor& points, const torch::Tensor& colors) {
  auto xyz = points.to(torch::kFloat).contiguous();
  auto rgb = (colors * 255).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  std::string out = "ply\nformat binary_little_endian 1.0\nelement vertex " + std::to_string(xyz.size(0)) +
                    "\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\n"
                    "property uchar green\nproperty uchar blue\nend_header\n";
  for (int64_t i = 0; i < xyz.size(0); ++i) {
    out.append(reinterpret_cast<const char*>(xyz[i].data_ptr<float>()), 12);
    out.append(reinterpret_cast<const char*>(rgb[i].data_ptr<uint8_t>()), 3);
  }
  write_file_atomic(file, out);
}

}  // namespace vggt_lab::io
