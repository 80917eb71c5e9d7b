#pragma once
// Ctrl-C (SIGINT) and SIGTERM during training: the first asks the run to
// stop after the step it is in, with a checkpoint; a second stops it at once.
#include <signal.h>

#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// Holds the handlers for its lifetime (training), then puts back those
/// before; `announce` prints what the first signal does.
class VGGT_LAB_API StopAfterStepOnInterrupt {
 public:
  explicit StopAfterStepOnInterrupt(bool announce);
  ~StopAfterStepOnInterrupt();
  StopAfterStepOnInterrupt(const StopAfterStepOnInterrupt&) = delete;
  StopAfterStepOnInterrupt& operator=(const StopAfterStepOnInterrupt&) = delete;

 private:
  struct sigaction before_int_ {}, before_term_{};
};

/// The first SIGINT or SIGTERM a StopAfterStepOnInterrupt caught, or 0.
VGGT_LAB_API int interrupt_signal();

}  // namespace vggt_lab
