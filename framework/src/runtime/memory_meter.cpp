#include "runtime/memory_meter.hpp"

#include <c10/core/CPUAllocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <array>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "vggt_lab/compat.hpp"

namespace vggt_lab::runtime {
namespace {

constexpr int kMaxDevices = 256;

struct Counter {
  std::atomic<std::int64_t> current{0};
  std::atomic<std::int64_t> peak{0};
};

/// One account per logical device for one kind of memory.
class Accounts {
 public:
  void add(int device, std::int64_t bytes) {
    if (device < 0 || device >= kMaxDevices) return;
    Counter& c = counters_[device];
    std::int64_t now = c.current.fetch_add(bytes) + bytes;
    std::int64_t peak = c.peak.load();
    while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
    }
  }
  MemoryCount count(int device) const {
    if (device < 0 || device >= kMaxDevices) return {};
    return {counters_[device].current.load(), counters_[device].peak.load()};
  }
  void reset_peaks() {
    for (Counter& c : counters_) c.peak.store(c.current.load());
  }

 private:
  std::array<Counter, kMaxDevices> counters_;
};

/// Who allocated each live block, looked up by address when it is freed.
class Owners {
 public:
  explicit Owners(Accounts& accounts) : accounts_(accounts) {}
  void allocated(std::uintptr_t address, int device, std::int64_t bytes) {
    Shard& shard = of(address);
    std::pair<int, std::int64_t> unseen{-1, 0};  // a block freed without a report
    {
      std::lock_guard<std::mutex> lock(shard.mutex);
      auto [it, added] = shard.blocks.try_emplace(address, device, bytes);
      if (!added) unseen = std::exchange(it->second, {device, bytes});
    }
    accounts_.add(unseen.first, -unseen.second);
    accounts_.add(device, bytes);
  }
  void freed(std::uintptr_t address) {
    Shard& shard = of(address);
    std::pair<int, std::int64_t> block{-1, 0};
    {
      std::lock_guard<std::mutex> lock(shard.mutex);
      auto it = shard.blocks.find(address);
      if (it == shard.blocks.end()) return;  // allocated before counting began
      block = it->second;
      shard.blocks.erase(it);
    }
    accounts_.add(block.first, -block.second);
  }

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::uintptr_t, std::pair<int, std::int64_t>> blocks;
  };
  Shard& of(std::uintptr_t address) { return shards_[(address >> 6) % 32]; }
  Accounts& accounts_;
  std::array<Shard, 32> shards_;
};

/// One kind of memory: its accounts and the owners of its live blocks.
struct Meter {
  Accounts accounts;
  Owners owners{accounts};
};

// Never destroyed: tensors are still freed during exit.
Meter& cpu_meter() {
  static Meter* meter = new Meter;
  return *meter;
}
Meter& cuda_meter() {
  static Meter* meter = new Meter;
  return *meter;
}
std::atomic<bool> cuda_counted{false};

/// The logical device tag, carried in LibTorch's thread-local debug info,
/// which its thread pools and autograd engine restore on the threads that
/// run a caller's work.
struct DeviceTag final : c10::DebugInfoBase {
  explicit DeviceTag(int d) : device(d) {}
  int device;
};
constexpr c10::DebugInfoKind kTagKind = c10::DebugInfoKind::PRODUCER_INFO;

int current_device() {
  auto* tag = dynamic_cast<DeviceTag*>(c10::ThreadLocalDebugInfo::get(kTagKind));
  return tag ? tag->device : -1;
}

c10::DeleterFnPtr inner_deleter = nullptr;

void release(void* data) {
  cpu_meter().owners.freed(reinterpret_cast<std::uintptr_t>(data));
  inner_deleter(data);
}

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) { inner_deleter = inner->raw_deleter(); }

  // Kernels that use raw_allocate need the data pointer to be its own
  // context, so the owner is kept by address rather than in the context.
  c10::DataPtr allocate(std::size_t bytes) override {
    void* data = inner_->raw_allocate(bytes);
    cpu_meter().owners.allocated(reinterpret_cast<std::uintptr_t>(data), current_device(), std::int64_t(bytes));
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

 private:
  c10::Allocator* inner_;
};

void cuda_allocated(std::uintptr_t address, std::int64_t bytes) {
  cuda_meter().owners.allocated(address, current_device(), bytes);
}
void cuda_freed(std::uintptr_t address) { cuda_meter().owners.freed(address); }

int gpu_of(const c10::Device& physical) { return physical.has_index() ? physical.index() : 0; }

}  // namespace

struct ScopedDevice::Guard {
  explicit Guard(int device) : debug_info(kTagKind, std::make_shared<DeviceTag>(device)) {}
  c10::DebugInfoGuard debug_info;
};

void install_memory_meter(const c10::Device& physical) {
  static std::once_flag cpu, cuda;
  if (physical.is_cuda()) {
    std::call_once(cuda, [] { cuda_counted = compat::cuda_observe_allocations(&cuda_allocated, &cuda_freed); });
    return;
  }
  std::call_once(cpu, [] {
    static CountingAllocator allocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(&allocator, /*priority=*/100);
  });
}

ScopedDevice::ScopedDevice(int device) : guard_(std::make_unique<Guard>(device)) {}
ScopedDevice::~ScopedDevice() = default;

MemoryCount memory_count(int device) { return cpu_meter().accounts.count(device); }

void reset_memory_peaks() { cpu_meter().accounts.reset_peaks(); }

bool cuda_counted_per_logical_device() { return cuda_counted; }

MemoryCount memory_count(const c10::Device& physical, int logical) {
  if (!physical.is_cuda()) return memory_count(logical);
  if (cuda_counted) return cuda_meter().accounts.count(logical);
  return {compat::cuda_allocated(gpu_of(physical)), compat::cuda_peak_allocated(gpu_of(physical))};
}

void reset_memory_peaks(const c10::Device& physical) {
  if (!physical.is_cuda()) return reset_memory_peaks();
  cuda_meter().accounts.reset_peaks();
  compat::cuda_reset_peak(gpu_of(physical));
}

}  // namespace vggt_lab::runtime
