#pragma once
// What differs between LibTorch builds (with CUDA or without) and the
// LibTorch calls whose spelling moved between 2.x releases live here.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <array>
#include <cstdint>

#include "vggt_lab/export.hpp"

#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 4)
#error "vggt-lab needs LibTorch 2.4 or newer: configure with scripts/bootstrap.sh (it installs PyTorch's own)"
#endif

namespace vggt_lab::compat {

/// A thread's autocast on CPUs and GPUs: on or off, and the type, for each.
struct AutocastState {
  static constexpr std::array<c10::DeviceType, 2> kDevices{c10::DeviceType::CPU, c10::DeviceType::CUDA};
  std::array<bool, 2> on{};
  std::array<at::ScalarType, 2> type{at::kBFloat16, at::kHalf};

  static AutocastState current() {
    AutocastState s;
    for (std::size_t i = 0; i < kDevices.size(); ++i) {
      s.on[i] = at::autocast::is_autocast_enabled(kDevices[i]);
      s.type[i] = at::autocast::get_autocast_dtype(kDevices[i]);
    }
    return s;
  }
  void apply() const {
    for (std::size_t i = 0; i < kDevices.size(); ++i) {
      at::autocast::set_autocast_dtype(kDevices[i], type[i]);
      at::autocast::set_autocast_enabled(kDevices[i], on[i]);
    }
  }
};

/// Computes under `state` for a scope, then restores the thread's own
/// (autocast state is per thread).
class AutocastAs {
 public:
  explicit AutocastAs(const AutocastState& state) : own_(AutocastState::current()) { state.apply(); }
  ~AutocastAs() { own_.apply(); }
  AutocastAs(const AutocastAs&) = delete;
  AutocastAs& operator=(const AutocastAs&) = delete;

 private:
  AutocastState own_;
};

/// Autocast off for a scope, on CPUs and GPUs (upstream runs the camera,
/// depth and point heads in fp32 under the caller's bf16 autocast).
class AutocastOff : public AutocastAs {
 public:
  AutocastOff() : AutocastAs(off()) {}

 private:
  static AutocastState off() {
    AutocastState s = AutocastState::current();
    s.on.fill(false);
    return s;
  }
};

/// Autocast on for this thread's work on `device` (CPU or CUDA) with `dtype`
/// (bf16 or fp16) for a scope.
class AutocastOn : public AutocastAs {
 public:
  AutocastOn(c10::DeviceType device, at::ScalarType dtype) : AutocastAs(on(device, dtype)) {}

 private:
  static AutocastState on(c10::DeviceType device, at::ScalarType dtype) {
    AutocastState s = AutocastState::current();
    const std::size_t i = device == c10::DeviceType::CUDA ? 1 : 0;
    s.on[i] = true;
    s.type[i] = dtype;
    return s;
  }
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
