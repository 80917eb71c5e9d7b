#pragma once
// A restricted unpickler for torch.save files (zip format). LibTorch's own
// reader turns collections.OrderedDict into None, and every state dict that
// Python saves is an OrderedDict, so vggt-lab reads them itself. It builds
// dicts, lists, tuples, numbers, strings and tensors; any other object comes
// back as an opaque value, never executed.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <torch/torch.h>

namespace vggt_lab::pickle {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Global {
  std::string module, name;
};
struct Opaque {
  std::string type;  // e.g. "torch.optim.adamw.AdamW"
};
struct List {
  std::vector<ValuePtr> items;
};
struct Tuple {
  std::vector<ValuePtr> items;
};
struct Dict {
  std::vector<std::pair<ValuePtr, ValuePtr>> items;  // in insertion order
};
struct None {};

struct Value {
  std::variant<None, bool, int64_t, double, std::string, List, Tuple, Dict, torch::Tensor, Global,
               Opaque>
      v;
};

/// Reads `file`; throws InputError naming the file when it cannot.
ValuePtr load(const std::filesystem::path& file);

/// The bytes torch.save would write for a dict of (name, CPU tensor), in
/// insertion order: Python's torch.load reads it back as a dict.
std::string save_state_dict(const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

}  // namespace vggt_lab::pickle
