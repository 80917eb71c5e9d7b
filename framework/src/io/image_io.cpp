#include "vggt_lab/image_io.hpp"

#include <png.h>
#include <stb/stb_image.h>

#include <cstdio>
#include <memory>

#include "host/files.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab::image {
namespace {

[[noreturn]] void unreadable(const std::filesystem::path& file) {
  const char* why = stbi_failure_reason();
  throw InputError("cannot read image " + file.string() + " (" + (why ? why : "unknown reason") + ")");
}

/// Writes rows with libpng to a temporary file, then renames it into place.
void write_png(const std::filesystem::path& file, int width, int height, int depth, int color,
               const std::function<const png_byte*(int)>& row) {
  std::filesystem::path temporary = file;
  temporary += ".tmp";
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(temporary.c_str(), "wb"), &std::fclose);
  if (!out) throw Error("cannot write " + file.string());
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw Error("cannot encode PNG " + file.string());
  }
  png_init_io(png, out.get());
  png_set_IHDR(png, info, width, height, depth, color, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  if (depth == 16) png_set_swap(png);  // our rows are little-endian
  for (int y = 0; y < height; ++y) png_write_row(png, const_cast<png_bytep>(row(y)));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  out.reset();
  std::filesystem::rename(temporary, file);
}

}  // namespace

torch::Tensor read_rgb(const std::filesystem::path& file) {
  int width = 0, height = 0, channels = 0;
  unsigned char* data = stbi_load(file.c_str(), &width, &height, &channels, 3);
  if (!data) unreadable(file);
  auto pixels = torch::from_blob(data, {height, width, 3}, torch::kUInt8).clone();
  stbi_image_free(data);
  return pixels.permute({2, 0, 1}).to(torch::kFloat) / 255.0;
}

torch::Tensor read_u16(const std::filesystem::path& file) {
  int width = 0, height = 0, channels = 0;
  if (!stbi_is_16_bit(file.c_str())) {
    throw InputError("depth image " + file.string() + " is not a 16-bit PNG; write depth as 16-bit PNG or .npy");
  }
  stbi_us* data = stbi_load_16(file.c_str(), &width, &height, &channels, 1);
  if (!data) unreadable(file);
  auto values = torch::from_blob(data, {height, width}, torch::kInt16).clone();
  stbi_image_free(data);
  return values.to(torch::kInt32).bitwise_and(0xFFFF);
}

void write_rgb(const std::filesystem::path& file, const torch::Tensor& image) {
  auto pixels = image.scalar_type() == torch::kUInt8
                    ? image.contiguous()
                    : (image.clamp(0, 1) * 255.0).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  const int height = int(pixels.size(0)), width = int(pixels.size(1));
  const auto* data = pixels.data_ptr<uint8_t>();
  write_png(file, width, height, 8, PNG_COLOR_TYPE_RGB,
            [&](int y) { return data + std::size_t(y) * width * 3; });
}

void write_u16(const std::filesystem::path& file, const torch::Tensor& image) {
  auto values = image.clamp(0, 65535).to(torch::kInt32).to(torch::kInt16).contiguous();
  const int height = int(values.size(0)), width = int(values.size(1));
  const auto* data = reinterpret_cast<const png_byte*>(values.data_ptr<int16_t>());
  write_png(file, width, height, 16, PNG_COLOR_TYPE_GRAY,
            [&](int y) { return data + std::size_t(y) * width * 2; });
}

}  // namespace vggt_lab::image
