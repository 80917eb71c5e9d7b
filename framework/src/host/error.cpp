#include "vggt_lab/error.hpp"

#include "vggt_lab/kind.hpp"
#include "vggt_lab/registrar.hpp"

namespace vggt_lab {

Error::~Error() = default;
InputError::~InputError() = default;
PluginLoadError::~PluginLoadError() = default;

std::string_view to_string(Kind kind) {
  switch (kind) {
    case Kind::model: return "model";
    case Kind::placement: return "placement";
    case Kind::gradient: return "gradient";
    case Kind::optimizer: return "optimizer";
    case Kind::data: return "data";
  }
  return "?";
}

std::optional<Kind> kind_from_string(std::string_view text) {
  for (Kind kind : kAllKinds) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

}  // namespace vggt_lab
