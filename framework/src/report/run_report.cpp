#include "report/run_report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "host/files.hpp"
#include "report/svg.hpp"
#include "vggt_lab/memory.hpp"

namespace vggt_lab::report {
using json = nlohmann::json;

std::vector<json> read_lines(const std::filesystem::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    json parsed = json::parse(line, nullptr, false);
    if (!parsed.is_discarded()) out.push_back(std::move(parsed));  // a line cut off by a full disk or a kill: left out
  }
  return out;
}

json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  json out;
  if (in) in >> out;
  return out;
}

namespace {

std::string loss_chart(const std::vector<json>& metrics) {
  std::map<std::string, Series> series;
  series["loss"].name = "loss";
  for (const auto& line : metrics) {
    if (!line.contains("loss") || !line["loss"].is_number()) continue;  // null: not finite
    double step = line["step"];
    series["loss"].x.push_back(step);
    series["loss"].y.push_back(line["loss"]);
    if (!line.contains("losses")) continue;
    for (const auto& [name, value] : line["losses"].items()) {
      if (name != "loss_camera" && name.rfind("loss_conf_", 0) != 0 && name != "loss_track") continue;
      if (!value.is_number()) continue;
      series[name].name = name;
      series[name].x.push_back(step);
      series[name].y.push_back(value);
    }
  }
  std::vector<Series> list;
  for (auto& [name, s] : series) list.push_back(std::move(s));
  return line_chart("Training loss", "step", "loss", list);
}

/// Measured peak per device (largest over steps) next to the predicted split.
std::string memory_chart(const std::vector<json>& metrics, const json& plan) {
  std::vector<Bar> bars;
  if (!plan.contains("devices")) return bar_chart("Memory per device", "GiB", {}, bars);
  std::vector<double> measured(plan["devices"].size(), 0);
  for (const auto& line : metrics) {
    if (!line.contains("devices")) continue;
    for (std::size_t d = 0; d < line["devices"].size() && d < measured.size(); ++d) {
      measured[d] = std::max(measured[d], line["devices"][d]["peak_bytes"].get<double>());
    }
  }
  double largest = 0;
  for (double peak : measured) largest = std::max(largest, peak);
  for (const auto& device : plan["devices"]) largest = std::max(largest, device["predicted_peak_bytes"].get<double>());
  const ByteUnit in = byte_unit(largest);
  const double unit = in.bytes;
  for (std::size_t d = 0; d < plan["devices"].size(); ++d) {
    const auto& device = plan["devices"][d];
    Bar predicted{"d" + std::to_string(d) + " plan", {}, device["capacity_bytes"].get<double>() / unit};
    for (const char* key : {"parameters_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes",
                            "workspace_bytes", "buffers_bytes"}) {
      predicted.parts.push_back(device[key].get<double>() / unit);
    }
    bars.push_back(predicted);
    bars.push_back({"d" + std::to_string(d) + " run", {0, 0, 0, 0, 0, 0, measured[d] / unit}, predicted.limit});
  }
  return bar_chart("Memory per device: predicted split and measured peak", in.name,
                   {"parameters", "gradients", "optimizer", "activations", "workspace", "buffers", "measured"}, bars);
}

std::string milliseconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f ms", 1000 * seconds);
  return text;
}

/// "block.3..block.5": a stage's first and last unit.
std::string stage_units(const json& plan, int stage) {
  if (!plan.contains("stages") || stage >= int(plan["stages"].size())) return "";
  const auto& units = plan["stages"][stage]["units"];
  if (units.empty()) return "";
  const std::string first = units.front(), last = units.back();
  return units.size() == 1 ? first : first + ".." + last;
}

/// The spans of timeline.json-style actions, on rows `row_of(device)`.
std::vector<Span> action_spans(const json& actions, const json& plan, const std::function<int(int)>& row_of,
                               bool predicted) {
  std::vector<Span> spans;
  for (const auto& a : actions) {
    const int stage = a["stage"].get<int>();
    const double start = a["start"].get<double>(), end = a["end"].get<double>();
    spans.push_back({row_of(a["device"].get<int>()), start, end,
                     std::string(predicted ? "planned: " : "") + a["pass"].get<std::string>() + " of stage " +
                         std::to_string(stage) + " (" + stage_units(plan, stage) + "), micro-batch " +
                         std::to_string(a["micro_batch"].get<int>()) + ", " + milliseconds(end - start),
                     a["pass"] == "backward", predicted});
  }
  return spans;
}

/// Each device's measured row, and below it the plan's prediction (lighter).
std::string timeline_chart(const json& timeline, const json& plan, std::size_t devices) {
  std::vector<std::string> rows;
  for (std::size_t d = 0; d < devices; ++d) {
    rows.push_back("device " + std::to_string(d));
    rows.push_back("planned");
  }
  std::vector<Span> spans;
  if (timeline.contains("actions")) {
    spans = action_spans(timeline["actions"], plan, [](int d) { return 2 * d; }, false);
  }
  if (plan.contains("predicted_timeline")) {
    auto predicted = action_spans(plan["predicted_timeline"], plan, [](int d) { return 2 * d + 1; }, true);
    spans.insert(spans.end(), predicted.begin(), predicted.end());
  }
  return report::timeline("One step (the last): what each device computed when, and the plan's prediction", rows,
                          spans);
}

/// Data parallelism's gradient all-reduces over the steps that started them
/// during backward: busy and waited seconds a step, the fraction hidden;
/// null for one process.
json allreduce_summary(const std::vector<json>& metrics) {
  double seconds = 0, exposed = 0;
  int steps = 0, ranks = 1;
  for (const auto& line : metrics) {
    if (!line.contains("allreduce") || line["allreduce"]["recounted"].get<bool>()) continue;
    seconds += line["allreduce"]["seconds"].get<double>();
    exposed += line["allreduce"]["exposed_seconds"].get<double>();
    ranks = line.value("ranks", 1);
    ++steps;
  }
  if (steps == 0) return nullptr;
  return {{"ranks", ranks},
          {"steps", steps},
          {"seconds_per_step", seconds / steps},
          {"exposed_seconds_per_step", exposed / steps},
          {"hidden", seconds > 0 ? std::clamp(1.0 - exposed / seconds, 0.0, 1.0) : 0.0}};
}

std::string markdown(const std::string& experiment, const std::string& description, const train::TrainSummary& s,
                     const std::vector<json>& metrics, const json& plan) {
  std::ostringstream out;
  out << "# " << experiment << "\n\n" << (description.empty() ? "" : description + "\n\n");
  out << "Plan: **" << plan.value("strategy", "?") << "**, " << plan.value("schedule", "?") << " schedule, "
      << plan.value("micro_batches", 1) << " micro-batch(es); predicted step "
      << plan.value("predicted_step_seconds", 0.0) << " s.";
  if (plan.contains("costs")) out << " Unit costs: " << plan["costs"].get<std::string>() << ".";
  out << "\n\n";
  if (!s.stopped.empty()) out << "**Stopped early.** " << s.stopped << "\n\n";
  out << "| | value |\n|---|---|\n";
  out << "| steps | " << s.steps << " (" << s.skipped << " skipped) |\n";
  out << "| loss, first fifth of the steps | " << s.first_fifth_loss << " |\n";
  out << "| loss, last fifth | " << s.last_fifth_loss << " (" << (s.first_fifth_loss > 0 ? s.last_fifth_loss / s.first_fifth_loss : 0) << "x) |\n";
  out << "| wall time, this process | " << s.seconds << " s |\n| throughput, this process | " << s.samples_per_second
      << " scenes/s |\n";
  for (const auto& [name, value] : s.final_eval) out << "| eval " << name << " | " << value << " |\n";
  if (const json reduced = allreduce_summary(metrics); !reduced.is_null()) {
    out << "| gradient all-reduce over " << reduced["ranks"].get<int>() << " ranks | "
        << 1000 * reduced["seconds_per_step"].get<double>() << " ms a step, "
        << 1000 * reduced["exposed_seconds_per_step"].get<double>() << " ms of it waited for after backward ("
        << int(100 * reduced["hidden"].get<double>()) << " % hidden) |\n";
  }
  out << "\n## Devices\n\n| device | units | predicted peak | measured peak | mean bubble |\n|---|---|---|---|---|\n";
  std::vector<double> peak(plan.contains("devices") ? plan["devices"].size() : 0, 0), bubble = peak;
  std::size_t counted = 0;
  for (const auto& line : metrics) {
    if (!line.contains("devices")) continue;
    ++counted;
    for (std::size_t d = 0; d < peak.size() && d < line["devices"].size(); ++d) {
      peak[d] = std::max(peak[d], line["devices"][d]["peak_bytes"].get<double>());
      bubble[d] += line["devices"][d]["bubble"].get<double>();
    }
  }
  for (std::size_t d = 0; d < peak.size(); ++d) {
    const auto& device = plan["devices"][d];
    std::string units;
    for (const auto& u : device["units"]) units += (units.empty() ? "" : ", ") + u.get<std::string>();
    out << "| " << d << " (" << device["physical"].get<std::string>() << ") | " << (units.empty() ? "-" : units) << " | "
        << format_bytes(device["predicted_peak_bytes"].get<std::int64_t>()) << " | " << format_bytes(std::int64_t(peak[d]))
        << " | " << int(100 * bubble[d] / std::max<std::size_t>(1, counted)) << "% |\n";
  }
  out << "\n![loss](loss.svg)\n\n![memory](memory.svg)\n\n![timeline](timeline.svg)\n";
  return out.str();
}

}  // namespace

void write_run_report(const std::filesystem::path& run_dir, const std::string& experiment,
                      const std::string& description, const train::TrainSummary& s) {
  auto metrics = read_lines(run_dir / "metrics.jsonl");
  json plan = read_json(run_dir / "plan.json"), timeline = read_json(run_dir / "timeline.json");
  json summary = {{"experiment", experiment},
                  {"steps", s.steps},
                  {"skipped_steps", s.skipped},
                  {"first_fifth_loss", s.first_fifth_loss},
                  {"last_fifth_loss", s.last_fifth_loss},
                  {"loss_ratio", s.first_fifth_loss > 0 ? s.last_fifth_loss / s.first_fifth_loss : 0.0},
                  {"seconds", s.seconds},
                  {"samples_per_second", s.samples_per_second},
                  {"eval", s.final_eval},
                  {"checkpoint", s.checkpoint.string()},
                  {"stopped", s.stopped}};
  if (const json reduced = allreduce_summary(metrics); !reduced.is_null()) summary["allreduce"] = reduced;
  write_file_atomic(run_dir / "summary.json", summary.dump(2) + "\n");
  write_file_atomic(run_dir / "loss.svg", loss_chart(metrics));
  write_file_atomic(run_dir / "memory.svg", memory_chart(metrics, plan));
  std::size_t devices = plan.contains("devices") ? plan["devices"].size() : 1;
  write_file_atomic(run_dir / "timeline.svg", timeline_chart(timeline, plan, devices));
  write_file_atomic(run_dir / "report.md", markdown(experiment, description, s, metrics, plan));
}

}  // namespace vggt_lab::report
