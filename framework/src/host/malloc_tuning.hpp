#pragma once
// glibc returns a freed block above its mmap threshold (128 KiB at first) to
// the kernel at once, so every training step page-faults its activations in
// afresh (issue #19: 2.9x on the tiny model at batch 8). vggt-lab keeps freed
// memory in the process instead.
#include "vggt_lab/export.hpp"

namespace vggt_lab {

/// Raises glibc's mmap threshold to its largest (32 MiB) and its trim
/// threshold and top pad, so freed memory is kept for reuse; the process's
/// resident size then stays near its peak. Leaves glibc as it is when the
/// environment sets any of MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
/// MALLOC_TOP_PAD_ or VGGT_LAB_MALLOC=default. Returns whether it changed it.
VGGT_LAB_API bool keep_freed_memory();

}  // namespace vggt_lab
