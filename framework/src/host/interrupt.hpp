#pragma once
// Ctrl-C (SIGINT) and SIGTERM during training: the first asks the run to
// stop after the step it is in, with a checkpoint; a second stops it at once.
#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// Installs the handlers; `announce` prints what the first signal does.
VGGT_LAB_API void stop_after_step_on_interrupt(bool announce);

/// The first SIGINT or SIGTERM received since, or 0.
VGGT_LAB_API int interrupt_signal();

}  // namespace vggt_lab
