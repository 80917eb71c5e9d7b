#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <iostream>
#include <utility>
#include <vector>

#include "bench/bench.hpp"
#include "cli/commands.hpp"
#include "host/files.hpp"
#include "host/log.hpp"

namespace vggt_lab {

int command_bench(const GlobalOptions& global, const BenchArgs& args) {
  using Bench = nlohmann::json (*)(const GlobalOptions&, const bench::Workload&);
  const std::vector<std::pair<std::string, Bench>> every = {
      {"placement", bench::placement}, {"pipeline", bench::pipeline}, {"frames", bench::frames},
      {"data", bench::data},           {"overhead", bench::overhead}, {"step", bench::step},
      {"data-parallel", bench::data_parallel}};  // "all"; gpu apart: it needs a GPU
  std::vector<std::pair<std::string, Bench>> chosen;
  for (const auto& entry : every) {
    if (args.name == "all" || args.name == entry.first) chosen.push_back(entry);
  }
  if (args.name == "gpu") chosen.emplace_back("gpu", bench::gpu);
  const auto log = make_logger(global.verbosity());
  nlohmann::json results;
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    const auto& [name, fn] = chosen[i];
    std::filesystem::path file = args.file;
    if (file.empty()) {
      file = name == "placement" ? "experiments/bench_placement.toml"
             : name == "step"    ? "experiments/bench_step.toml"
                                 : "experiments/bench.toml";
    }
    log->info("bench {} ({}/{}) on {}", name, i + 1, chosen.size(), file.string());
    const auto start = std::chrono::steady_clock::now();
    results[name] = fn(global, bench::Workload{file, args.overrides, args.steps});
    results[name + "_experiment"] = file.string();
    log->info("bench {}: {:.0f} s", name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  results["date"] = date;
  results["threads"] = at::get_num_threads();
  std::string text = results.dump(2);
  std::cout << text << "\n";
  if (args.json_out) write_file_atomic(*args.json_out, text + "\n");
  return 0;
}

}  // namespace vggt_lab
