#pragma once
// A fatal signal (segmentation fault, bus error, illegal instruction,
// floating-point trap) prints which plugin's code was running before the
// process dies as the signal would kill it: the plugin call in progress on
// that thread, and the shared library that holds the faulting instruction.
#include "vggt_lab/export.hpp"

namespace vggt_lab {

struct PluginOrigin;

/// Installs the handlers once per process.
VGGT_LAB_API void install_crash_handler();

/// Marks the calling thread as running `origin`'s code for its lifetime.
class VGGT_LAB_API PluginCallScope {
 public:
  explicit PluginCallScope(const PluginOrigin& origin);
  ~PluginCallScope();
  PluginCallScope(const PluginCallScope&) = delete;
  PluginCallScope& operator=(const PluginCallScope&) = delete;

 private:
  const PluginOrigin* previous_;
};

}  // namespace vggt_lab
