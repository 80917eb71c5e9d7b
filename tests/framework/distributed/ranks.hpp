#pragma once
// Ranks as threads of one process, joined over a HashStore (tests only).
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "distributed/data_parallel.hpp"

namespace vggt_lab::distributed {

/// Runs `body` on `ranks` threads, each a rank of one group with `settings`;
/// returns each rank's error message ("" when it finished).
inline std::vector<std::string> on_ranks(int ranks, const Settings& settings,
                                         const std::function<void(DataParallel& dp, int rank)>& body) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::string> errors(ranks);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < ranks; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        World world;
        world.rank = rank;
        world.size = world.local_size = ranks;
        DataParallel dp(world, settings, store);
        body(dp, rank);
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

}  // namespace vggt_lab::distributed
