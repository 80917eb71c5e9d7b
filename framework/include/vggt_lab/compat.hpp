#pragma once
// What differs between LibTorch builds (with CUDA or without) and the
// LibTorch calls whose spelling moved between 2.x releases live here.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdint>

#include "vggt_lab/export.hpp"

#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 4)
#error "vggt-lab needs LibTorch 2.4 or newer: configure with scripts/bootstrap.sh (it installs PyTorch's own)"
#endif

namespace vggt_lab::compat {

/// Turns autocast off for a scope, on CPUs and GPUs (upstream runs the
/// camera, depth and point heads in fp32 under the caller's bf16 autocast).
class AutocastOff {
 public:
  AutocastOff()
      : cpu_(at::autocast::is_autocast_enabled(at::kCPU)), cuda_(at::autocast::is_autocast_enabled(at::kCUDA)) {
    at::autocast::set_autocast_enabled(at::kCPU, false);
    at::autocast::set_autocast_enabled(at::kCUDA, false);
  }
  ~AutocastOff() {
    at::autocast::set_autocast_enabled(at::kCPU, cpu_);
    at::autocast::set_autocast_enabled(at::kCUDA, cuda_);
  }
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;

 private:
  bool cpu_, cuda_;
};

/// Turns autocast on for this thread's work on `device` with `dtype`
/// (bf16 or fp16) for a scope; autocast state is per thread.
class AutocastOn {
 public:
  AutocastOn(c10::DeviceType device, at::ScalarType dtype)
      : device_(device), was_(at::autocast::is_autocast_enabled(device)),
        dtype_(at::autocast::get_autocast_dtype(device)) {
    at::autocast::set_autocast_dtype(device, dtype);
    at::autocast::set_autocast_enabled(device, true);
  }
  ~AutocastOn() {
    at::autocast::set_autocast_enabled(device_, was_);
    at::autocast::set_autocast_dtype(device_, dtype_);
  }
  AutocastOn(const AutocastOn&) = delete;
  AutocastOn& operator=(const AutocastOn&) = delete;

 private:
  c10::DeviceType device_;
  bool was_ = false;
  at::ScalarType dtype_ = at::kFloat;
};

/// CUDA devices LibTorch sees (0 in a CPU build).
inline int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

/// Total memory of a CUDA device in bytes, 0 when unknown (CPU builds).
VGGT_LAB_API std::int64_t cuda_total_memory(int device);
/// The caching allocator's allocated bytes on a device: now, and the peak
/// since the last reset (0 in CPU builds).
VGGT_LAB_API std::int64_t cuda_allocated(int device);
VGGT_LAB_API std::int64_t cuda_peak_allocated(int device);
VGGT_LAB_API void cuda_reset_peak(int device);
/// Waits for the device's queued work (nothing in CPU builds).
VGGT_LAB_API void cuda_synchronize(int device);

/// Has the CUDA caching allocator call `allocated(address, bytes)` for each
/// block it hands out and `freed(address)` for each it takes back, on the
/// thread that asks and under its lock (so they must not call LibTorch).
/// False where it cannot: CPU builds, no GPU.
VGGT_LAB_API bool cuda_observe_allocations(void (*allocated)(std::uintptr_t address, std::int64_t bytes),
                                           void (*freed)(std::uintptr_t address));

}  // namespace vggt_lab::compat
