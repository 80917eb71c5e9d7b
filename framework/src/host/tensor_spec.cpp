// The SDK's tensor-spec helpers (vggt_lab/model.hpp).
#include "vggt_lab/model.hpp"

namespace vggt_lab {

std::int64_t numel(const TensorSpec& tensor) {
  std::int64_t count = 1;
  for (std::int64_t size : tensor.shape) count *= size;
  return count;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace vggt_lab
