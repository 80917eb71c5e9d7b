#pragma once
// Ctrl-C (SIGINT) and SIGTERM during long work: the first asks it to stop at
// its next boundary (a training step, with a checkpoint; a sweep's running
// trials); a second stops the process at once.
#include <signal.h>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// Holds the handlers for its lifetime, then puts back those before. The
/// first signal prints `announcement` (a string literal; null: nothing).
class VGGT_LAB_API StopOnInterrupt {
 public:
  explicit StopOnInterrupt(const char* announcement);
  ~StopOnInterrupt();
  StopOnInterrupt(const StopOnInterrupt&) = delete;
  StopOnInterrupt& operator=(const StopOnInterrupt&) = delete;

 private:
  struct sigaction before_int_ {}, before_term_{};
};

/// The first SIGINT or SIGTERM a StopOnInterrupt caught, or 0.
VGGT_LAB_API int interrupt_signal();

}  // namespace vggt_lab
