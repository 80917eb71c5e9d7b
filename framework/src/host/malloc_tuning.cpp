#include "host/malloc_tuning.hpp"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace vggt_lab {

bool keep_freed_memory() {
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}) {
    if (std::getenv(name)) return false;
  }
  const char* choice = std::getenv("VGGT_LAB_MALLOC");
  if (choice && std::strcmp(choice, "default") == 0) return false;
  constexpr int kMostMmapThreshold = 32 << 20;  // glibc's cap on 64-bit: larger blocks are always mapped
  constexpr int kKeep = 1 << 30;
  return mallopt(M_MMAP_THRESHOLD, kMostMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kKeep) == 1 &&
         mallopt(M_TOP_PAD, 64 << 20) == 1;
}

}  // namespace vggt_lab
