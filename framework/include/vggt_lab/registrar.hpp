#pragma once
// What a plugin library sees of the host while it registers: a registrar that
// takes factories by (kind, name), each with the option schema it accepts.
#include <functional>
#include <memory>
#include <string>

#include "vggt_lab/export.hpp"
#include "vggt_lab/kind.hpp"
#include "vggt_lab/options.hpp"

namespace spdlog {
class logger;
}

namespace vggt_lab {

/// What the host hands every factory: its logger (plugins log through it, so
/// there is one logging setup) and where the experiment file lives.
struct PluginContext {
  std::shared_ptr<spdlog::logger> logger;
  std::string config_dir;
};

struct PluginInfo {
  Kind kind = Kind::model;
  std::string name;
  std::string version;
  std::string summary;  // one line
  std::string doc;      // longer text for `vggt-lab plugins show`
  OptionSchema schema;
};

template <class Interface>
using Factory = std::function<std::unique_ptr<Interface>(const Options&, const PluginContext&)>;

using ErasedFactory = std::function<std::shared_ptr<void>(const Options&, const PluginContext&)>;

class VGGT_LAB_API Registrar {
 public:
  virtual ~Registrar();

  /// Registers a factory for an interface of this SDK (Interface::kKind).
  /// `info.kind` is taken from the interface.
  template <class Interface>
  void add(PluginInfo info, Factory<Interface> factory) {
    info.kind = Interface::kKind;
    add_erased(std::move(info), [factory = std::move(factory)](const Options& options,
                                                               const PluginContext& context) {
      return std::shared_ptr<void>(std::shared_ptr<Interface>(factory(options, context)));
    });
  }

 protected:
  virtual void add_erased(PluginInfo info, ErasedFactory factory) = 0;
};

}  // namespace vggt_lab
