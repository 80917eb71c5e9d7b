#include "sweep/outputs.hpp"

#include <csignal>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "host/files.hpp"
#include "report/compare.hpp"
#include "report/svg.hpp"

namespace vggt_lab::sweep {

using json = nlohmann::json;

namespace {

constexpr double kGiB = double(1 << 30);

/// A TOML value for a setting's text: bare words become strings.
std::string toml_value(const std::string& value) {
  const bool word = !value.empty() && std::isalpha(static_cast<unsigned char>(value[0])) && value != "true" &&
                    value != "false";
  return word ? "\"" + value + "\"" : value;
}

}  // namespace

std::vector<std::size_t> ranking(const std::vector<TrialResult>& trials, const std::string& objective) {
  std::vector<std::size_t> order(trials.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](auto a, auto b) { return trials[a].score(objective) > trials[b].score(objective); });
  return order;
}

void write_results_json(const Results& r, const std::filesystem::path& file) {
  json out{{"sweep", r.sweep.string()}, {"base", r.base.string()}, {"mode", r.mode}, {"conditions", r.conditions},
           {"merged_trials", r.merged_trials}, {"trials", r.trials}};
  if (r.rank_correlation) out["rank_correlation"] = *r.rank_correlation;
  write_file_atomic(file, out.dump(2) + "\n");
}

Results read_results_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  json j;
  in >> j;
  Results r{j.value("sweep", ""), j.value("base", ""), j.value("mode", ""), j.value("merged_trials", std::size_t{0}),
            j.value("trials", std::vector<TrialResult>{}), std::nullopt};
  if (j.contains("rank_correlation")) r.rank_correlation = j["rank_correlation"].get<double>();
  r.conditions = j.value("conditions", "");
  return r;
}

void write_csv(const Results& results, const std::vector<std::size_t>& order, const std::filesystem::path& file) {
  std::ostringstream csv;
  csv << "rank,id,settings,status,fits,predicted_peak_bytes,measured_peak_bytes,predicted_step_seconds,"
         "measured_step_seconds,predicted_throughput,measured_throughput,bytes_moved,reason\n";
  for (std::size_t r = 0; r < order.size(); ++r) {
    const TrialResult& t = results.trials[order[r]];
    const Measurement m = t.measured.value_or(Measurement{});
    std::string reason = t.reason;
    for (auto& c : reason) c = (c == ',' || c == '\n') ? ' ' : c;
    csv << r + 1 << "," << t.id << "," << settings_text(t.settings) << "," << t.status << "," << t.fits << ","
        << t.predicted.peak_bytes << "," << m.peak_bytes << "," << t.predicted.step_seconds << "," << m.step_seconds
        << "," << t.predicted.throughput << "," << m.throughput << "," << m.bytes_moved << "," << reason << "\n";
  }
  write_file_atomic(file, csv.str());
}

void write_pareto(const Results& results, const std::filesystem::path& file) {
  report::Series all{"trials", {}, {}, true}, front{"Pareto front", {}, {}, false};
  std::vector<std::pair<double, double>> points;
  for (const TrialResult& t : results.trials) {
    if (t.score("throughput") >= 0) points.emplace_back(t.peak_bytes() / kGiB, t.throughput());
  }
  std::sort(points.begin(), points.end());
  double best = -1;
  for (const auto& [x, y] : points) {
    all.x.push_back(x);
    all.y.push_back(y);
    if (y > best) {
      best = y;
      front.x.push_back(x);
      front.y.push_back(y);
    }
  }
  write_file_atomic(file, report::line_chart("Throughput against peak memory per device",
                                             "peak memory per device (GiB)", "images per second", {all, front}));
}

void write_report(const SweepFile& s, const Results& results, const std::vector<std::size_t>& order,
                  const std::filesystem::path& file) {
  std::ostringstream md;
  md << "# Sweep: " << s.file.filename().string() << "\n\nBase experiment `" << s.base.string() << "`, "
     << results.trials.size() << " trials, mode " << results.mode << ", objective " << s.objective << ".\n\n";
  if (results.interrupted != 0) {
    md << "**Interrupted** (" << (results.interrupted == SIGINT ? "SIGINT" : "SIGTERM")
       << "): these are the trials finished before it; the same command measures the rest.\n\n";
  }
  if (results.rank_correlation) {
    md << "Cost model against measurement: Spearman rank correlation of throughput **" << *results.rank_correlation
       << "**.\n\n";
  }
  md << "| rank | settings | fits | peak per device (GiB) | step (s) | images / s | status |\n"
        "|---|---|---|---|---|---|---|\n";
  std::map<std::string, std::size_t> rank_of;  // trial id -> rank
  for (std::size_t r = 0; r < order.size(); ++r) rank_of[results.trials[order[r]].id] = r + 1;
  for (std::size_t r = 0; r < order.size(); ++r) {
    const TrialResult& t = results.trials[order[r]];
    std::string settings = "`" + settings_text(t.settings, "`, `") + "`";
    if (t.search && rank_of.count(t.search->from)) {
      settings += " (split search from rank " + std::to_string(rank_of[t.search->from]) + ")";
    }
    md << "| " << r + 1 << " | " << settings << " | " << (t.fits ? "yes" : "no") << " | " << t.peak_bytes() / kGiB
       << " | " << t.step_seconds() << " | " << t.throughput() << " | " << t.status
       << (t.reason.empty() ? "" : ": " + t.reason.substr(0, 80)) << " |\n";
  }
  md << "\n![pareto](pareto.svg)\n";
  if (results.mode == "measure") md << "\nThe measured trials' runs side by side: [compare/compare.md](compare/compare.md).\n";
  if (!order.empty() && results.trials[order[0]].score(s.objective) >= 0) {
    md << "\nBest layout: `best.toml` (run it with `vggt-lab run " << (file.parent_path() / "best.toml").string()
       << "`).\n";
  }
  write_file_atomic(file, md.str());
}

void write_best(const SweepFile& s, const TrialResult& winner, const std::filesystem::path& file) {
  std::map<std::string, std::vector<std::string>> tables;
  for (const Setting& a : winner.settings) tables[a.table].push_back(a.key + " = " + toml_value(a.value));
  std::string toml = "# The best layout of " + s.file.string() + " (" + s.objective + ")\ninclude = [\"" +
                     std::filesystem::absolute(s.base).string() + "\"]\n";
  for (const auto& [table, lines] : tables) {
    toml += "\n[" + table + "]\n";
    for (const auto& line : lines) toml += line + "\n";
  }
  write_file_atomic(file, toml);
}

void write_trial_comparison(const Results& results, const std::vector<std::size_t>& order,
                            const std::filesystem::path& dir) {
  std::vector<report::RunRecord> runs;
  for (std::size_t r = 0; r < order.size(); ++r) {
    const TrialResult& t = results.trials[order[r]];
    const auto run = dir / "trials" / t.id;
    if (t.status != "done" || !std::filesystem::exists(run / "summary.json")) continue;
    runs.push_back(report::read_run(run));
    runs.back().name = "#" + std::to_string(r + 1) + " " + settings_text(t.settings, ", ");
  }
  if (!runs.empty()) report::write_comparison(runs, dir / "compare");
}

void write_outputs(const SweepFile& sweep, const Results& results, const std::filesystem::path& dir) {
  const auto order = ranking(results.trials, sweep.objective);
  write_results_json(results, dir / "results.json");
  write_csv(results, order, dir / "results.csv");
  write_pareto(results, dir / "pareto.svg");
  write_report(sweep, results, order, dir / "report.md");
  if (results.mode == "measure") write_trial_comparison(results, order, dir);
  if (!order.empty() && results.trials[order[0]].score(sweep.objective) >= 0) {
    write_best(sweep, results.trials[order[0]], dir / "best.toml");
  }
}

}  // namespace vggt_lab::sweep
