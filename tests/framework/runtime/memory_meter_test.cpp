// The memory meter's attribution of CPU allocations to logical devices.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <future>

#include "runtime/memory_meter.hpp"

namespace vggt_lab::runtime {
namespace {

constexpr std::int64_t kMiB = 1024 * 256 * 4;  // a 1024 x 256 float tensor

TEST(MemoryMeter, AttributesAllocationsToTheThreadsLogicalDevice) {
  install_memory_meter();
  reset_memory_peaks();
  auto before = memory_count(7).current;
  torch::Tensor t;
  {
    ScopedDevice on(7);
    t = torch::empty({1024, 256});
  }
  EXPECT_EQ(memory_count(7).current - before, kMiB);
  EXPECT_GE(memory_count(7).peak, memory_count(7).current);
  t = torch::Tensor();
  EXPECT_EQ(memory_count(7).current, before);
}

TEST(MemoryMeter, AnInnerScopeCountsUntilItEnds) {
  install_memory_meter();
  const auto outer = memory_count(5).current, inner = memory_count(6).current;
  torch::Tensor a, b;
  {
    ScopedDevice on(5);
    {
      ScopedDevice nested(6);
      a = torch::empty({1024, 256});
    }
    b = torch::empty({2 * 1024, 256});
  }
  EXPECT_EQ(memory_count(6).current - inner, kMiB);
  EXPECT_EQ(memory_count(5).current - outer, 2 * kMiB);
}

// Work LibTorch runs for the caller on its own threads (here its inter-op
// pool; on a GPU, autograd's device threads) is counted on the caller's
// logical device, not lost.
TEST(MemoryMeter, CountsWorkLibTorchRunsOnItsOwnThreads) {
  install_memory_meter();
  const auto before = memory_count(9).current;
  std::promise<torch::Tensor> made;
  {
    ScopedDevice on(9);
    at::launch([&made] { made.set_value(torch::empty({1024, 256})); });
  }
  torch::Tensor t = made.get_future().get();
  EXPECT_EQ(memory_count(9).current - before, kMiB);
  t = torch::Tensor();
  EXPECT_EQ(memory_count(9).current, before);
}

}  // namespace
}  // namespace vggt_lab::runtime
