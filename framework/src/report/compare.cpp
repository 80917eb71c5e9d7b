#include "report/compare.hpp"

#include <algorithm>
#include <numeric>
#include <sstream>

#include "host/files.hpp"
#include "report/run_report.hpp"
#include "report/svg.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/memory.hpp"

namespace vggt_lab::report {
namespace {

using json = nlohmann::json;

const std::filesystem::path& required(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) {
    throw InputError(file.string() + " is missing: compare run folders (each has plan.json and metrics.jsonl)");
  }
  return file;
}

void read_metrics(const std::filesystem::path& file, RunRecord& run) {
  std::vector<double> seconds, scenes;
  for (const auto& line : read_lines(file)) {
    if (line.contains("eval")) {
      for (const auto& [name, value] : line["eval"].items()) run.eval[name] = value.get<double>();
      continue;
    }
    if (!line.contains("devices")) continue;
    const double step = line["step"].get<double>();
    run.steps.push_back(step);
    run.step_throughput.push_back(line["samples_per_second"].get<double>());
    seconds.push_back(line.value("step_seconds", 0.0));
    scenes.push_back(line["batch"].get<double>());
    run.final_loss.reset();
    if (line["loss"].is_number()) {  // null: not finite
      run.final_loss = line["loss"].get<double>();
      run.loss_steps.push_back(step);
      run.losses.push_back(*run.final_loss);
    }
    run.peaks.resize(std::max(run.peaks.size(), line["devices"].size()), 0.0);
    for (std::size_t d = 0; d < line["devices"].size(); ++d) {
      run.peaks[d] = std::max(run.peaks[d], line["devices"][d]["peak_bytes"].get<double>());
    }
  }
  const std::size_t first = seconds.size() > 1 ? 1 : 0;  // the first step warms up
  const double time = std::accumulate(seconds.begin() + first, seconds.end(), 0.0);
  run.throughput = time > 0 ? std::accumulate(scenes.begin() + first, scenes.end(), 0.0) / time : 0.0;
}

/// "finished", the reason a run stopped early (its summary's first clause), or
/// that the steps logged go past its summary: a run still going, or killed.
std::string run_state(const std::filesystem::path& dir, const RunRecord& run) {
  const std::int64_t logged = run.steps.empty() ? 0 : std::int64_t(run.steps.back());
  const auto file = dir / "summary.json";
  const json summary = std::filesystem::exists(file) ? read_json(file) : json::object();
  if (summary.value("steps", std::int64_t(-1)) != logged) {
    return "no summary after step " + std::to_string(logged) + ": running, or killed";
  }
  const std::string stopped = summary.value("stopped", "");
  return stopped.empty() ? "finished" : stopped.substr(0, stopped.find(';'));
}

std::string number(double value) {
  std::ostringstream out;
  out.precision(4);
  out << value;
  return out.str();
}

/// One series per run over the steps.
std::string per_step(const std::vector<RunRecord>& runs, const std::string& title, const std::string& y,
                     std::vector<double> RunRecord::*steps, std::vector<double> RunRecord::*values) {
  std::vector<Series> series;
  for (const auto& run : runs) series.push_back({run.name, run.*steps, run.*values});
  return line_chart(title, "step", y, series);
}

std::string memory_plot(const std::vector<RunRecord>& runs) {
  double largest = 0;
  for (const auto& run : runs) {
    for (double peak : run.peaks) largest = std::max(largest, peak);
  }
  const ByteUnit unit = byte_unit(largest);
  std::vector<Series> series;
  for (const auto& run : runs) {
    Series s{run.name, {}, {}, true};
    for (std::size_t d = 0; d < run.peaks.size(); ++d) {
      s.x.push_back(double(d));
      s.y.push_back(run.peaks[d] / unit.bytes);
    }
    series.push_back(s);
  }
  return line_chart("Measured peak memory per device", "logical device", unit.name, series);
}

}  // namespace

RunRecord read_run(const std::filesystem::path& dir) {
  RunRecord run;
  run.name = std::filesystem::path(dir).lexically_normal().filename().string();
  if (run.name.empty()) run.name = std::filesystem::path(dir).lexically_normal().parent_path().filename().string();
  const auto plan = read_json(required(dir / "plan.json"));
  run.strategy = plan.value("strategy", "?");
  run.devices = plan.contains("devices") ? int(plan["devices"].size()) : 0;
  read_metrics(required(dir / "metrics.jsonl"), run);
  run.state = run_state(dir, run);
  return run;
}

std::string comparison_table(const std::vector<RunRecord>& runs) {
  std::vector<std::string> metrics;  // eval metrics any run has, in name order
  for (const auto& run : runs) {
    for (const auto& [name, value] : run.eval) {
      if (std::find(metrics.begin(), metrics.end(), name) == metrics.end()) metrics.push_back(name);
    }
  }
  std::sort(metrics.begin(), metrics.end());
  std::ostringstream md;
  md << "| run | layout | devices | steps | state | scenes / s | peak per device | final loss |";
  for (const auto& m : metrics) md << " " << m << " |";
  md << "\n|---|---|---|---|---|---|---|---|";
  for (std::size_t i = 0; i < metrics.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& run : runs) {
    std::string peaks;
    for (double peak : run.peaks) peaks += (peaks.empty() ? "" : " / ") + format_bytes(std::int64_t(peak));
    const std::int64_t steps = run.steps.empty() ? 0 : std::int64_t(run.steps.back());
    md << "| " << run.name << " | " << run.strategy << " | " << run.devices << " | " << steps << " | " << run.state
       << " | " << number(run.throughput) << " | " << peaks << " | "
       << (run.final_loss ? number(*run.final_loss) : "not finite") << " |";
    for (const auto& m : metrics) md << " " << (run.eval.count(m) ? number(run.eval.at(m)) : "-") << " |";
    md << "\n";
  }
  return md.str();
}

void write_comparison(const std::vector<RunRecord>& runs, const std::filesystem::path& out) {
  if (std::filesystem::exists(out / "plan.json") || std::filesystem::exists(out / "metrics.jsonl")) {
    throw InputError(out.string() + " is a run folder: the comparison's loss.svg and memory.svg would replace "
                     "the run's own. Write it into another folder (--out)");
  }
  if (!std::filesystem::exists(out / "compare.md")) {  // not an earlier comparison
    require_own_files(out, "a comparison", [](const std::string&) { return false; });
  }
  std::filesystem::create_directories(out);
  write_file_atomic(out / "loss.svg",
                    per_step(runs, "Training loss", "loss", &RunRecord::loss_steps, &RunRecord::losses));
  write_file_atomic(out / "throughput.svg", per_step(runs, "Throughput", "scenes per second", &RunRecord::steps,
                                                     &RunRecord::step_throughput));
  write_file_atomic(out / "memory.svg", memory_plot(runs));
  write_file_atomic(out / "compare.md", "# Runs side by side\n\n" + comparison_table(runs) +
                                            "\n![loss](loss.svg)\n\n![throughput](throughput.svg)\n\n"
                                            "![memory](memory.svg)\n");
}

}  // namespace vggt_lab::report
