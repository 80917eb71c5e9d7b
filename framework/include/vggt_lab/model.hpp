#pragma once
// The model interface. What exists now needs no allocation: the exact
// state-dict names and shapes. The unit graph, costs and LibTorch modules
// join it with issue #3.
#include <cstdint>
#include <string>
#include <vector>

#include "vggt_lab/export.hpp"
#include "vggt_lab/kind.hpp"

namespace vggt_lab {

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

VGGT_LAB_API std::int64_t numel(const TensorSpec& tensor);
/// "[1, 2, 1, 1024]", as the official key list writes shapes.
VGGT_LAB_API std::string shape_text(const std::vector<std::int64_t>& shape);

class VGGT_LAB_API Model {
 public:
  static constexpr Kind kKind = Kind::model;
  virtual ~Model();
  /// Every state-dict entry, in the order the official model registers them.
  virtual std::vector<TensorSpec> state_dict_spec() const = 0;
};

}  // namespace vggt_lab
