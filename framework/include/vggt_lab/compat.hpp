#pragma once
// Every difference between the LibTorch versions vggt-lab builds against
// (Debian's 1.13 on CPU, PyTorch's 2.x with CUDA) lives here.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cstdint>

#include "vggt_lab/export.hpp"

/// c10::Allocator gained a pure virtual copy_data in LibTorch 2.3.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define VGGT_LAB_COMPAT_ALLOCATOR_COPY_DATA                                    \
  void copy_data(void* dest, const void* src, std::size_t count) const override { \
    default_copy_data(dest, src, count);                                        \
  }
#else
#define VGGT_LAB_COMPAT_ALLOCATOR_COPY_DATA
#endif

namespace vggt_lab::compat {

/// softmax(q kᵀ / sqrt(d)) v over the last two dimensions, no mask, no
/// dropout. 2.x dispatches to the fused (flash / memory-efficient) kernels;
/// 1.13 has no public fused op, so the math is written out.
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  return torch::softmax(torch::matmul(q * scale, k.transpose(-2, -1)), -1).matmul(v);
#endif
}

/// Turns CUDA autocast off for a scope (upstream runs the camera, depth and
/// point heads in fp32 under the caller's bf16 autocast).
class AutocastOff {
 public:
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  AutocastOff() : was_(at::autocast::is_autocast_enabled(at::kCUDA)) {
    at::autocast::set_autocast_enabled(at::kCUDA, false);
  }
  ~AutocastOff() { at::autocast::set_autocast_enabled(at::kCUDA, was_); }
#else
  AutocastOff() : was_(at::autocast::is_enabled()) { at::autocast::set_enabled(false); }
  ~AutocastOff() { at::autocast::set_enabled(was_); }
#endif
  AutocastOff(const AutocastOff&) = delete;
  AutocastOff& operator=(const AutocastOff&) = delete;

 private:
  bool was_;
};

/// Turns autocast on for this thread's work on `device` with `dtype`
/// (bf16 or fp16) for a scope; autocast state is per thread.
class AutocastOn {
 public:
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
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
#else
  AutocastOn(c10::DeviceType device, at::ScalarType dtype) : device_(device) {
    if (device_ == c10::DeviceType::CPU) {
      was_ = at::autocast::is_cpu_enabled();
      dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(true);
    } else {
      was_ = at::autocast::is_enabled();
      dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(true);
    }
  }
  ~AutocastOn() {
    if (device_ == c10::DeviceType::CPU) {
      at::autocast::set_cpu_enabled(was_);
      at::autocast::set_autocast_cpu_dtype(dtype_);
    } else {
      at::autocast::set_enabled(was_);
      at::autocast::set_autocast_gpu_dtype(dtype_);
    }
  }
#endif
  AutocastOn(const AutocastOn&) = delete;
  AutocastOn& operator=(const AutocastOn&) = delete;

 private:
  c10::DeviceType device_;
  bool was_ = false;
  at::ScalarType dtype_ = at::kFloat;
};

/// Whether bf16 autocast trains on CPUs: LibTorch 1.13's CPU layer norm
/// rejects a bf16 input with fp32 weights.
constexpr bool kCpuBf16Autocast = TORCH_VERSION_MAJOR >= 2;

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
/// False where it cannot: CPU builds, no GPU, LibTorch before 2.2.
VGGT_LAB_API bool cuda_observe_allocations(void (*allocated)(std::uintptr_t address, std::int64_t bytes),
                                           void (*freed)(std::uintptr_t address));

}  // namespace vggt_lab::compat
