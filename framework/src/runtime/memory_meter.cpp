#include "runtime/memory_meter.hpp"

#include <c10/core/CPUAllocator.h>

#include <array>
#include <atomic>
#include <mutex>
#include <unordered_map>

#include "vggt_lab/compat.hpp"

namespace vggt_lab::runtime {
namespace {

constexpr int kMaxDevices = 256;

struct Counter {
  std::atomic<std::int64_t> current{0};
  std::atomic<std::int64_t> peak{0};
};

std::array<Counter, kMaxDevices>& counters() {
  static std::array<Counter, kMaxDevices> all;
  return all;
}

thread_local int tls_device = -1;

void add(int device, std::int64_t bytes) {
  if (device < 0 || device >= kMaxDevices) return;
  Counter& c = counters()[device];
  std::int64_t now = c.current.fetch_add(bytes) + bytes;
  std::int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

/// Who allocated each live block. Kernels that use raw_allocate need the
/// data pointer to be its own context, so the owner is looked up by address.
class Owners {
 public:
  void insert(void* data, int device, std::int64_t bytes) {
    Shard& shard = of(data);
    std::lock_guard<std::mutex> lock(shard.mutex);
    shard.blocks[data] = {device, bytes};
  }
  void erase(void* data) {
    Shard& shard = of(data);
    std::pair<int, std::int64_t> block{-1, 0};
    {
      std::lock_guard<std::mutex> lock(shard.mutex);
      auto it = shard.blocks.find(data);
      if (it == shard.blocks.end()) return;
      block = it->second;
      shard.blocks.erase(it);
    }
    add(block.first, -block.second);
  }

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<void*, std::pair<int, std::int64_t>> blocks;
  };
  Shard& of(void* data) { return shards_[(reinterpret_cast<std::uintptr_t>(data) >> 6) % 32]; }
  std::array<Shard, 32> shards_;
};

Owners& owners() {
  static Owners* all = new Owners;  // outlives every tensor freed at exit
  return *all;
}

c10::DeleterFnPtr inner_deleter = nullptr;

void release(void* data) {
  owners().erase(data);
  inner_deleter(data);
}

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {
    inner_deleter = inner->raw_deleter();
  }

  c10::DataPtr allocate(std::size_t bytes) const override {
    void* data = inner_->raw_allocate(bytes);
    owners().insert(data, tls_device, std::int64_t(bytes));
    add(tls_device, std::int64_t(bytes));
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  VGGT_LAB_COMPAT_ALLOCATOR_COPY_DATA

 private:
  c10::Allocator* inner_;
};

}  // namespace

void install_memory_meter() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CountingAllocator allocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(&allocator, /*priority=*/100);
  });
}

ScopedDevice::ScopedDevice(int device) : previous_(tls_device) { tls_device = device; }
ScopedDevice::~ScopedDevice() { tls_device = previous_; }

MemoryCount memory_count(int device) {
  if (device < 0 || device >= kMaxDevices) return {};
  return {counters()[device].current.load(), counters()[device].peak.load()};
}

void reset_memory_peaks() {
  for (Counter& c : counters()) c.peak.store(c.current.load());
}

MemoryCount memory_count(const c10::Device& physical, int logical) {
  if (!physical.is_cuda()) return memory_count(logical);
  const int gpu = physical.has_index() ? physical.index() : 0;
  return {compat::cuda_allocated(gpu), compat::cuda_peak_allocated(gpu)};
}

void reset_memory_peaks(const c10::Device& physical) {
  if (!physical.is_cuda()) return reset_memory_peaks();
  compat::cuda_reset_peak(physical.has_index() ? physical.index() : 0);
}

}  // namespace vggt_lab::runtime
