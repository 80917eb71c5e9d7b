#pragma once
// Per-logical-device memory accounting. Several logical devices can share one
// CPU or one GPU, so every allocation is attributed to the logical device
// named by ScopedDevice where it was made, and its free to whoever allocated
// it. The tag travels with LibTorch's thread-local state, so work LibTorch
// hands to its own threads (autograd's GPU threads, at::launch) is counted
// too. On the CPU a counting allocator sees every block; on CUDA the caching
// allocator reports its blocks where LibTorch can (2.2 and later). Peaks are
// what the benchmarks compare with the plan.
#include <cstdint>
#include <memory>

#include <c10/core/Device.h>

#include "vggt_lab/export.hpp"

namespace vggt_lab::runtime {

struct MemoryCount {
  std::int64_t current = 0;
  std::int64_t peak = 0;
};

/// Starts counting `physical`'s kind of memory (once per process and kind):
/// replaces LibTorch's CPU allocator with the counting one, or watches the
/// CUDA caching allocator where LibTorch lets it.
VGGT_LAB_API void install_memory_meter(const c10::Device& physical = c10::Device(c10::DeviceType::CPU));

/// Attributes allocations to `device` while alive: this thread's, and those
/// of the work LibTorch runs for it on other threads.
class VGGT_LAB_API ScopedDevice {
 public:
  explicit ScopedDevice(int device);
  ~ScopedDevice();
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  struct Guard;
  std::unique_ptr<Guard> guard_;
};

/// Logical device `device`'s account of CPU memory.
VGGT_LAB_API MemoryCount memory_count(int device);
/// Sets every CPU account's peak to its current use.
VGGT_LAB_API void reset_memory_peaks();

/// Whether CUDA memory is counted per logical device (LibTorch reports its
/// caching allocator's blocks), rather than per GPU.
VGGT_LAB_API bool cuda_counted_per_logical_device();

/// Memory of logical device `logical` living on `physical`: its account of
/// that kind of memory. On a GPU whose blocks LibTorch does not report, the
/// caching allocator's statistics of the whole GPU, which every logical
/// device on it then shares.
VGGT_LAB_API MemoryCount memory_count(const c10::Device& physical, int logical);
/// Sets the peaks of `physical`'s kind of memory to the current use.
VGGT_LAB_API void reset_memory_peaks(const c10::Device& physical);

}  // namespace vggt_lab::runtime
