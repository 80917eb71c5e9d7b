#include "vggt_lab/tensor_io.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "host/files.hpp"
#include "io/tensor_specs.hpp"
#include "io/torch_pickle.hpp"
#include "vggt_lab/model.hpp"
#include "vggt_lab/error.hpp"

namespace vggt_lab {
namespace {

const std::map<std::string, torch::Dtype>& safetensors_dtypes() {
  static const std::map<std::string, torch::Dtype> dtypes = {
      {"F64", torch::kDouble}, {"F32", torch::kFloat},   {"F16", torch::kHalf},
      {"BF16", torch::kBFloat16}, {"I64", torch::kLong}, {"I32", torch::kInt},
      {"I16", torch::kShort}, {"I8", torch::kChar},     {"U8", torch::kByte},
      {"BOOL", torch::kBool}};
  return dtypes;
}

std::string safetensors_name(torch::Dtype dtype, const std::string& tensor) {
  for (const auto& [name, type] : safetensors_dtypes()) {
    if (type == dtype) return name;
  }
  throw Error("cannot write tensor '" + tensor + "' of type " +
              std::string(c10::toString(dtype)) + " as safetensors");
}

std::string read_all(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot open " + file.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

[[noreturn]] void corrupt(const std::filesystem::path& file, const std::string& why) {
  throw InputError(file.string() + ": not a valid safetensors file (" + why +
                   "); is it complete? re-download or re-export it");
}

torch::Tensor tensor_from(const nlohmann::json& entry, const std::string& data, std::size_t base,
                          const std::filesystem::path& file, const std::string& name) {
  auto dtype = safetensors_dtypes().find(entry.at("dtype").get<std::string>());
  if (dtype == safetensors_dtypes().end()) corrupt(file, "unknown dtype for '" + name + "'");
  std::vector<int64_t> shape = entry.at("shape").get<std::vector<int64_t>>();
  auto offsets = entry.at("data_offsets").get<std::vector<std::size_t>>();
  if (offsets.size() != 2 || offsets[1] < offsets[0] || base + offsets[1] > data.size()) {
    corrupt(file, "tensor '" + name + "' lies outside the file");
  }
  // Checked against the file before anything is allocated.
  std::size_t bytes = c10::elementSize(dtype->second);
  for (int64_t d : shape) {
    if (d < 0) corrupt(file, "tensor '" + name + "' has a negative dimension " + std::to_string(d));
    if (d > 0 && bytes > (offsets[1] - offsets[0]) / std::size_t(d)) bytes = offsets[1] - offsets[0] + 1;
    else bytes *= std::size_t(d);
  }
  if (bytes != offsets[1] - offsets[0]) {
    corrupt(file, "tensor '" + name + "' has " + std::to_string(offsets[1] - offsets[0]) +
                      " bytes, not what its shape " + shape_text(shape) + " needs");
  }
  auto tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype->second));
  std::memcpy(tensor.data_ptr(), data.data() + base + offsets[0], tensor.nbytes());
  return tensor;
}

NamedTensors tensors_of(const pickle::Dict& dict, const std::filesystem::path& file) {
  NamedTensors out;
  for (const auto& [key, value] : dict.items) {
    const auto* name = std::get_if<std::string>(&key->v);
    const auto* tensor = std::get_if<torch::Tensor>(&value->v);
    if (!name || !tensor) {
      throw InputError(file.string() + ": holds a dict that is not a state dict (entry '" +
                       (name ? *name : std::string("?")) + "' is not a tensor)");
    }
    out.emplace_back(*name, *tensor);
  }
  return out;
}

/// The JSON header of a safetensors file whose first bytes are `data` in a
/// file of `size` bytes; `header_size` is set to its length.
nlohmann::json safetensors_header(const std::string& data, std::uint64_t size, const std::filesystem::path& file,
                                  std::uint64_t& header_size) {
  if (data.size() < 8) corrupt(file, "shorter than its 8-byte header length");
  std::memcpy(&header_size, data.data(), 8);
  if (header_size > size - 8 || header_size > data.size() - 8) corrupt(file, "header runs past the end");
  try {
    return nlohmann::json::parse(data.substr(8, header_size));
  } catch (const std::exception& e) {
    corrupt(file, std::string("header is not JSON: ") + e.what());
  }
  return {};
}

}  // namespace

std::vector<TensorSpec> safetensors_specs(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot open " + file.string());
  const std::uint64_t size = std::filesystem::file_size(file);
  std::string data(8, '\0');
  in.read(data.data(), 8);
  data.resize(std::size_t(in.gcount()));
  std::uint64_t header_size = 0;
  if (data.size() == 8) std::memcpy(&header_size, data.data(), 8);
  if (data.size() == 8 && header_size <= size - 8) {  // else the header check below says what is wrong
    data.resize(8 + header_size);
    in.read(data.data() + 8, std::streamsize(header_size));
  }
  const nlohmann::json header = safetensors_header(data, size, file, header_size);
  std::vector<TensorSpec> out;
  for (const auto& [name, entry] : header.items()) {
    if (name != "__metadata__") out.push_back({name, entry.at("shape").get<std::vector<std::int64_t>>()});
  }
  return out;
}

TensorFile load_safetensors(const std::filesystem::path& file) {
  std::string data = read_all(file);
  std::uint64_t header_size = 0;
  const nlohmann::json header = safetensors_header(data, data.size(), file, header_size);
  TensorFile out;
  std::vector<std::pair<std::size_t, std::string>> order;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, value] : entry.items()) out.metadata[key] = value.get<std::string>();
      continue;
    }
    order.emplace_back(entry.at("data_offsets").at(0).get<std::size_t>(), name);
  }
  std::sort(order.begin(), order.end());
  for (const auto& [offset, name] : order) {
    out.tensors.emplace_back(name, tensor_from(header.at(name), data, 8 + header_size, file, name));
  }
  return out;
}

void save_safetensors(const std::filesystem::path& file, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string body;
  for (const auto& [name, tensor] : tensors) {
    auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    std::size_t begin = body.size();
    body.append(static_cast<const char*>(cpu.data_ptr()), cpu.nbytes());
    header[name] = {{"dtype", safetensors_name(cpu.scalar_type(), name)},
                    {"shape", cpu.sizes().vec()},
                    {"data_offsets", {begin, body.size()}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t size = text.size();
  std::string out(reinterpret_cast<const char*>(&size), 8);
  write_file_atomic(file, out + text + body);
}

NamedTensors load_torch_state_dict(const std::filesystem::path& file) {
  pickle::ValuePtr value = pickle::load(file);
  const auto* dict = std::get_if<pickle::Dict>(&value->v);
  if (!dict) throw InputError(file.string() + ": does not hold a dict of tensors");
  for (const auto& [key, entry] : dict->items) {
    const auto* name = std::get_if<std::string>(&key->v);
    const auto* model = std::get_if<pickle::Dict>(&entry->v);
    if (name && *name == "model" && model) return tensors_of(*model, file);
  }
  return tensors_of(*dict, file);
}

void save_torch_state_dict(const std::filesystem::path& file, const NamedTensors& tensors) {
  write_file_atomic(file, pickle::save_state_dict(tensors));
}

NamedTensors load_state_dict_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot open " + file.string());
  unsigned char magic[9] = {};
  in.read(reinterpret_cast<char*>(magic), sizeof magic);
  if (magic[0] == 'P' && magic[1] == 'K') return load_torch_state_dict(file);
  if (in.gcount() == sizeof magic && magic[8] == '{') return load_safetensors(file).tensors;
  if (magic[0] == 0x80 && magic[1] >= 2 && magic[1] <= 5) {
    throw InputError(file.string() + ": a legacy torch.save file (pickle, not a zip archive); save it again with "
                     "a current torch.save, or as .safetensors");
  }
  throw InputError(file.string() + ": not a weight file; expected a safetensors file or a torch.save archive (.pt)");
}

}  // namespace vggt_lab
