#include "report/run_report.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "host/files.hpp"
#include "report/svg.hpp"
#include "vggt_lab/memory.hpp"

namespace vggt_lab::report {
namespace {

using json = nlohmann::json;

std::vector<json> read_lines(const std::filesystem::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  json out;
  if (in) in >> out;
  return out;
}

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
  const double gib = 1024.0 * 1024.0 * 1024.0;
  for (std::size_t d = 0; d < plan["devices"].size(); ++d) {
    const auto& device = plan["devices"][d];
    Bar predicted{"d" + std::to_string(d) + " plan", {}, device["capacity_bytes"].get<double>() / gib};
    for (const char* key : {"parameters_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes",
                            "workspace_bytes", "buffers_bytes"}) {
      predicted.parts.push_back(device[key].get<double>() / gib);
    }
    bars.push_back(predicted);
    bars.push_back({"d" + std::to_string(d) + " run", {0, 0, 0, 0, 0, 0, measured[d] / gib}, predicted.limit});
  }
  return bar_chart("Memory per device: predicted split and measured peak", "GiB",
                   {"parameters", "gradients", "optimizer", "activations", "workspace", "buffers", "measured"}, bars);
}

std::string timeline_chart(const json& timeline, std::size_t devices) {
  std::vector<std::string> rows;
  for (std::size_t d = 0; d < devices; ++d) rows.push_back("device " + std::to_string(d));
  std::vector<Span> spans;
  if (timeline.contains("actions")) {
    for (const auto& a : timeline["actions"]) {
      spans.push_back({a["device"].get<int>(), a["start"].get<double>(), a["end"].get<double>(),
                       a["pass"].get<std::string>() + " stage " + std::to_string(a["stage"].get<int>()) +
                           " mb " + std::to_string(a["micro_batch"].get<int>()),
                       a["pass"] == "backward"});
    }
  }
  return report::timeline("One step (the last): what each device ran when", rows, spans);
}

std::string markdown(const std::string& experiment, const std::string& description, const train::TrainSummary& s,
                     const std::vector<json>& metrics, const json& plan) {
  std::ostringstream out;
  out << "# " << experiment << "\n\n" << (description.empty() ? "" : description + "\n\n");
  out << "Plan: **" << plan.value("strategy", "?") << "**, " << plan.value("schedule", "?") << " schedule, "
      << plan.value("micro_batches", 1) << " micro-batch(es); predicted step "
      << plan.value("predicted_step_seconds", 0.0) << " s.\n\n";
  if (!s.stopped.empty()) out << "**Stopped early.** " << s.stopped << "\n\n";
  out << "| | value |\n|---|---|\n";
  out << "| steps | " << s.steps << " (" << s.skipped << " skipped) |\n";
  out << "| loss, first fifth of the steps | " << s.first_fifth_loss << " |\n";
  out << "| loss, last fifth | " << s.last_fifth_loss << " (" << (s.first_fifth_loss > 0 ? s.last_fifth_loss / s.first_fifth_loss : 0) << "x) |\n";
  out << "| wall time | " << s.seconds << " s |\n| throughput | " << s.samples_per_second << " scenes/s |\n";
  for (const auto& [name, value] : s.final_eval) out << "| eval " << name << " | " << value << " |\n";
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
  write_file_atomic(run_dir / "summary.json", summary.dump(2) + "\n");
  write_file_atomic(run_dir / "loss.svg", loss_chart(metrics));
  write_file_atomic(run_dir / "memory.svg", memory_chart(metrics, plan));
  std::size_t devices = plan.contains("devices") ? plan["devices"].size() : 1;
  write_file_atomic(run_dir / "timeline.svg", timeline_chart(timeline, devices));
  write_file_atomic(run_dir / "report.md", markdown(experiment, description, s, metrics, plan));
}

}  // namespace vggt_lab::report
