#include <chrono>
#include <ctime>
#include <iostream>

#include "bench/bench.hpp"
#include "cli/commands.hpp"
#include "host/files.hpp"

namespace vggt_lab {

int command_bench(const GlobalOptions& global, const BenchArgs& args) {
  nlohmann::json results;
  auto run = [&](const std::string& name, auto fn) {
    if (args.name != name && args.name != "all") return;
    std::filesystem::path file = args.file;
    if (file.empty()) {
      file = name == "placement" ? "experiments/bench_placement.toml"
             : name == "step"    ? "experiments/bench_step.toml"
                                 : "experiments/bench.toml";
    }
    results[name] = fn(global, bench::Workload{file, args.overrides, args.steps});
    results[name + "_experiment"] = file.string();
  };
  run("placement", bench::placement);
  run("pipeline", bench::pipeline);
  run("frames", bench::frames);
  run("data", bench::data);
  run("overhead", bench::overhead);
  run("step", bench::step);
  run("data-parallel", bench::data_parallel);
  if (args.name == "gpu") run("gpu", bench::gpu);  // not part of "all": it needs a GPU
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
