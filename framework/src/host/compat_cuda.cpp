// The few CUDA queries the core makes; compiled against the CUDA runtime
// only where LibTorch itself was built with CUDA.
#include "vggt_lab/compat.hpp"

#if VGGT_LAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace vggt_lab::compat {

std::int64_t cuda_total_memory(int device) {
#if VGGT_LAB_WITH_CUDA
  if (device < cuda_device_count()) {
    return static_cast<std::int64_t>(at::cuda::getDeviceProperties(device)->totalGlobalMem);
  }
#endif
  (void)device;
  return 0;
}

#if VGGT_LAB_WITH_CUDA
// allocated_bytes[0] is the aggregate over pool types in every LibTorch version.
std::int64_t cuda_allocated(int device) {
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  return stats.allocated_bytes[0].current;
}
std::int64_t cuda_peak_allocated(int device) {
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  return stats.allocated_bytes[0].peak;
}
void cuda_reset_peak(int device) { c10::cuda::CUDACachingAllocator::resetPeakStats(device); }
void cuda_synchronize(int device) { torch::cuda::synchronize(device); }

bool cuda_observe_allocations(void (*allocated)(std::uintptr_t, std::int64_t), void (*freed)(std::uintptr_t)) {
  if (cuda_device_count() == 0) return false;
  (void)torch::empty({1}, torch::TensorOptions().device(torch::kCUDA));  // makes the allocator exist
  namespace cache = c10::cuda::CUDACachingAllocator;
  cache::attachAllocatorTraceTracker([allocated, freed](const cache::TraceEntry& entry) {
    if (entry.action_ == cache::TraceEntry::ALLOC) {
      allocated(std::uintptr_t(entry.addr_), std::int64_t(entry.size_));
    } else if (entry.action_ == cache::TraceEntry::FREE_REQUESTED) {  // when allocated_bytes drops
      freed(std::uintptr_t(entry.addr_));
    }
  });
  return true;
}
#else
std::int64_t cuda_allocated(int) { return 0; }
std::int64_t cuda_peak_allocated(int) { return 0; }
void cuda_reset_peak(int) {}
void cuda_synchronize(int) {}
bool cuda_observe_allocations(void (*)(std::uintptr_t, std::int64_t), void (*)(std::uintptr_t)) { return false; }
#endif

}  // namespace vggt_lab::compat
