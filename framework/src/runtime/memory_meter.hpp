#pragma once
// Per-logical-device memory accounting on the CPU. Several logical devices
// share the one CPU, so a counting allocator attributes every allocation to
// the logical device whose worker thread made it (ScopedDevice), and frees
// to whoever allocated. Peaks are what the benchmarks compare with the plan.
#include <cstdint>
#include <vector>

#include <c10/core/Device.h>

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

/// Memory of logical device `logical` living on `physical`: its account with
/// the counting allocator on the CPU; on CUDA the caching allocator's
/// statistics of that GPU, which every logical device on it shares (the
/// allocator cannot tell them apart).
VGGT_LAB_API MemoryCount memory_count(const c10::Device& physical, int logical);
/// Sets the peaks to the current use: every CPU account, and the GPU's when
/// `physical` is a CUDA device.
VGGT_LAB_API void reset_memory_peaks(const c10::Device& physical);

}  // namespace vggt_lab::runtime
