#pragma once
// Per-logical-device memory accounting on the CPU. Several logical devices
// share the one CPU, so a counting allocator attributes every allocation to
// the logical device whose worker thread made it (ScopedDevice), and frees
// to whoever allocated. Peaks are what the benchmarks compare with the plan.
#include <cstdint>
#include <vector>

#include "vggt_lab/export.hpp"

namespace vggt_lab::runtime {

struct MemoryCount {
  std::int64_t current = 0;
  std::int64_t peak = 0;
};

/// Replaces LibTorch's CPU allocator with the counting one (once per process).
VGGT_LAB_API void install_memory_meter();

/// Attributes this thread's CPU allocations to `device` while alive.
class VGGT_LAB_API ScopedDevice {
 public:
  explicit ScopedDevice(int device);
  ~ScopedDevice();
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_;
};

VGGT_LAB_API MemoryCount memory_count(int device);
/// Sets every device's peak to its current use.
VGGT_LAB_API void reset_memory_peaks();

}  // namespace vggt_lab::runtime
