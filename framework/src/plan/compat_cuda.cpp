// The few CUDA queries the core makes; compiled against the CUDA runtime
// only where LibTorch itself was built with CUDA.
#include "vggt_lab/compat.hpp"

#if VGGT_LAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
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

}  // namespace vggt_lab::compat
