#include "sweep/sweep.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>
#include <toml++/toml.h>

#include "host/child.hpp"
#include "host/config.hpp"
#include "host/files.hpp"
#include "plan/planning.hpp"
#include "report/svg.hpp"
#include "sweep/split_search.hpp"

namespace vggt_lab::sweep {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string where(const toml::node& node, const std::filesystem::path& file) {
  return file.string() + ":" + std::to_string(node.source().begin.line) + ":" + std::to_string(node.source().begin.column);
}

std::string toml_text(const toml::node& node) {
  std::ostringstream out;
  if (auto s = node.as_string()) return s->get();  // bare: typed by the schema like --set
  node.visit([&](const auto& v) { out << v; });
  return out.str();
}

std::string id_of(const std::vector<std::string>& assignments) {
  std::string joined;
  for (const auto& a : assignments) joined += a + ";";
  return std::to_string(std::hash<std::string>{}(joined) % 1000000007ULL);
}

/// --set assignments a trial applies on top of the base experiment.
std::vector<std::string> with_defaults(const std::vector<std::string>& trial, const SweepFile& s, bool measure) {
  std::vector<std::string> out = trial;
  if (measure) {
    out.push_back("train.steps=" + std::to_string(s.steps));
    out.push_back("train.eval_scenes=0");
  }
  if (s.memory_cap > 0) out.push_back("devices.memory=\"" + std::to_string(s.memory_cap) + "\"");
  return out;
}

/// Keeps only assignments the chosen plugins accept (e.g. micro_batches for
/// pipeline only), so the grid needs no filters for plugin-specific options.
std::vector<std::string> applicable(const std::vector<std::string>& trial, const Registry& registry) {
  std::map<std::string, std::string> plugin_of;
  for (const auto& a : trial) {
    auto eq = a.find('='), dot = a.find('.');
    if (a.substr(dot + 1, eq - dot - 1) == "plugin") plugin_of[a.substr(0, dot)] = a.substr(eq + 1);
  }
  std::vector<std::string> out;
  for (const auto& a : trial) {
    auto eq = a.find('='), dot = a.find('.');
    std::string table = a.substr(0, dot), key = a.substr(dot + 1, eq - dot - 1);
    auto kind = plugin_tables().find(table);
    auto plugin = plugin_of.find(table);
    if (kind != plugin_tables().end() && plugin != plugin_of.end() && key != "plugin") {
      const auto* p = registry.find(kind->second, plugin->second);
      if (p && !p->info.schema.find(key)) continue;
    }
    out.push_back(a);
  }
  return out;
}

ResolvedConfig trial_config(const SweepFile& s, const std::vector<std::string>& trial, const PluginHost& host);

/// The trial as it will run: a micro-batch count above the batch size runs
/// as the batch size, so it is written so (and identical trials merge).
std::vector<std::string> effective(std::vector<std::string> trial, const SweepFile& s, const PluginHost& host) {
  auto it = std::find_if(trial.begin(), trial.end(),
                         [](const std::string& a) { return a.rfind("placement.micro_batches=", 0) == 0; });
  if (it == trial.end()) return trial;
  try {
    ResolvedConfig config = trial_config(s, trial, host);
    const std::int64_t batch = config.core("train").get<std::int64_t>("batch_size");
    if (config.plugin_options("placement").get<std::int64_t>("micro_batches") > batch) {
      *it = "placement.micro_batches=" + std::to_string(batch);
    }
  } catch (const Error&) {  // reported when the trial is planned
  }
  return trial;
}

/// The base experiment with a trial's settings (plan-mode defaults).
ResolvedConfig trial_config(const SweepFile& s, const std::vector<std::string>& trial, const PluginHost& host) {
  RawConfig raw = load_config(s.base);
  for (const auto& a : with_defaults(trial, s, false)) apply_override(raw, a);
  return resolve_config(raw, host.registry());
}

json plan_trial(const SweepFile& s, const std::vector<std::string>& trial, const PluginHost& host) {
  ResolvedConfig config = trial_config(s, trial, host);
  PlanReport report = plan_from_config(config, host.registry(), host.context(s.base.parent_path()));
  json devices = json::array();
  std::int64_t peak = 0;
  for (std::size_t d = 0; d < report.predicted.size(); ++d) {
    peak = std::max(peak, report.predicted[d].total());
    devices.push_back({{"predicted_peak_bytes", report.predicted[d].total()}, {"predicted_bubble", report.timeline.bubble(int(d))}});
  }
  double step = report.timeline.makespan;
  return {{"fits", report.fits()}, {"problems", report.problems}, {"predicted_peak_bytes", peak},
          {"predicted_step_seconds", step},
          {"predicted_throughput", step > 0 ? double(report.shape.batch * report.shape.frames) / step : 0.0},
          {"frames", report.shape.frames}, {"devices", devices}, {"strategy", report.plan.strategy}};
}

/// Runs `vggt-lab run` for one trial in a child process, with a timeout.
json measure_trial(const SweepFile& s, const std::vector<std::string>& trial, const Options& o, const std::string& id) {
  auto dir = o.out / "trials" / id;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(o.out / "trials");
  std::vector<std::string> args{o.executable.string(), "-q", "run", s.base.string(), "--out", dir.string()};
  for (const auto& p : o.plugin_paths) args.insert(args.begin() + 1, {"--plugin-path", p.string()});
  for (const auto& a : with_defaults(trial, s, true)) args.insert(args.end(), {"--set", a});
  auto log = o.out / "trials" / (id + ".log");
  const std::string cores = std::to_string(std::max(1, process_cores() / std::max(1, o.jobs)));
  const ChildExit exit = wait_child(start_child({args, {{"VGGT_LAB_CORES", cores}}, log}), s.timeout_s);
  json out{{"run_dir", dir.string()}};
  std::ifstream text(log);
  std::string tail((std::istreambuf_iterator<char>(text)), std::istreambuf_iterator<char>());
  if (tail.size() > 600) tail = tail.substr(tail.size() - 600);
  if (exit.timed_out) return out.update({{"status", "failed"}, {"reason", "timed out after " + std::to_string(int(s.timeout_s)) + " s"}}), out;
  if (exit.signalled) return out.update({{"status", "failed"}, {"reason", "killed by signal " + std::to_string(exit.status - 128) + " (out of memory?)"}}), out;
  if (exit.status != 0) return out.update({{"status", "failed"}, {"reason", "exit " + std::to_string(exit.status) + ": " + tail}}), out;
  std::ifstream metrics(dir / "metrics.jsonl");
  double seconds = 0, samples = 0, bytes = 0;
  int counted = 0;
  std::vector<double> peaks;
  for (std::string line; std::getline(metrics, line);) {
    json m = json::parse(line);
    if (!m.contains("loss")) continue;
    if (m["step"].get<int>() > 1) {  // the first step warms up
      seconds += m["step_seconds"].get<double>();
      samples += m["batch"].get<double>() * m["frames"].get<double>();
      ++counted;
    }
    for (std::size_t d = 0; d < m["devices"].size(); ++d) {
      if (peaks.size() <= d) peaks.push_back(0);
      peaks[d] = std::max(peaks[d], m["devices"][d]["peak_bytes"].get<double>());
      bytes += m["devices"][d]["bytes_sent"].get<double>();
    }
  }
  out["status"] = "done";
  out["measured_step_seconds"] = counted ? seconds / counted : 0.0;
  out["measured_throughput"] = seconds > 0 ? samples / seconds : 0.0;
  out["measured_peak_bytes"] = peaks.empty() ? 0.0 : *std::max_element(peaks.begin(), peaks.end());
  out["measured_device_peaks"] = peaks;
  out["bytes_moved"] = bytes;
  return out;
}

double objective(const json& r, const std::string& objective) {
  const std::string status = r.value("status", "");
  if (!r.value("fits", false) || (status != "done" && status != "planned")) return -1;
  if (objective == "frames") return r["frames"].get<double>();
  return r.contains("measured_throughput") ? r["measured_throughput"].get<double>() : r["predicted_throughput"].get<double>();
}

void write_outputs(const SweepFile& s, const Options& o, json& results) {
  auto& trials = results["trials"];
  std::vector<std::size_t> order(trials.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) {
    return objective(trials[a], s.objective) > objective(trials[b], s.objective);
  });
  // CSV
  std::ostringstream csv;
  csv << "rank,id,settings,status,fits,predicted_peak_bytes,measured_peak_bytes,predicted_step_seconds,"
         "measured_step_seconds,predicted_throughput,measured_throughput,bytes_moved,reason\n";
  for (std::size_t r = 0; r < order.size(); ++r) {
    const json& t = trials[order[r]];
    std::string settings;
    for (const auto& a : t["settings"]) settings += (settings.empty() ? "" : " ") + a.get<std::string>();
    std::string reason = t.value("reason", "");
    for (auto& c : reason) c = (c == ',' || c == '\n') ? ' ' : c;
    csv << r + 1 << "," << t["id"].get<std::string>() << "," << settings << "," << t.value("status", "planned") << ","
        << t.value("fits", false) << "," << t.value("predicted_peak_bytes", 0.0) << "," << t.value("measured_peak_bytes", 0.0) << ","
        << t.value("predicted_step_seconds", 0.0) << "," << t.value("measured_step_seconds", 0.0) << ","
        << t.value("predicted_throughput", 0.0) << "," << t.value("measured_throughput", 0.0) << ","
        << t.value("bytes_moved", 0.0) << "," << reason << "\n";
  }
  write_file_atomic(o.out / "results.csv", csv.str());
  // Rank correlation of the cost model against measurements.
  std::vector<double> predicted, measured;
  for (const auto& t : trials) {
    if (t.value("status", "") == "done" && t.contains("measured_throughput")) {
      predicted.push_back(t["predicted_throughput"]);
      measured.push_back(t["measured_throughput"]);
    }
  }
  if (predicted.size() >= 3) results["rank_correlation"] = spearman(predicted, measured);
  write_file_atomic(o.out / "results.json", results.dump(2) + "\n");
  // Plots: throughput against peak memory, Pareto front marked.
  report::Series all{"trials", {}, {}, true}, front{"Pareto front", {}, {}, false};
  std::vector<std::pair<double, double>> points;
  for (const auto& t : trials) {
    if (objective(t, "throughput") < 0) continue;
    double peak = (t.contains("measured_peak_bytes") ? t["measured_peak_bytes"].get<double>() : t["predicted_peak_bytes"].get<double>()) / (1 << 30);
    points.emplace_back(peak, objective(t, "throughput"));
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
  write_file_atomic(o.out / "pareto.svg", report::line_chart("Throughput against peak memory per device",
                                                              "peak memory per device (GiB)", "images per second", {all, front}));
  // report.md and the best layout.
  std::ostringstream md;
  md << "# Sweep: " << s.file.filename().string() << "\n\nBase experiment `" << s.base.string() << "`, " << trials.size()
     << " trials, mode " << results["mode"].get<std::string>() << ", objective " << s.objective << ".\n\n";
  if (results.contains("rank_correlation")) {
    md << "Cost model against measurement: Spearman rank correlation of throughput **"
       << results["rank_correlation"].get<double>() << "**.\n\n";
  }
  md << "| rank | settings | fits | peak per device (GiB) | step (s) | images / s | status |\n|---|---|---|---|---|---|---|\n";
  std::map<std::string, std::size_t> rank_of;  // trial id -> rank
  for (std::size_t r = 0; r < order.size(); ++r) rank_of[trials[order[r]]["id"].get<std::string>()] = r + 1;
  for (std::size_t r = 0; r < order.size(); ++r) {
    const json& t = trials[order[r]];
    std::string settings;
    for (const auto& a : t["settings"]) settings += (settings.empty() ? "" : ", ") + ("`" + a.get<std::string>() + "`");
    if (t.contains("searched_from")) {
      auto from = rank_of.find(t["searched_from"].get<std::string>());
      if (from != rank_of.end()) settings += " (split search from rank " + std::to_string(from->second) + ")";
    }
    bool measured = t.contains("measured_throughput");
    md << "| " << r + 1 << " | " << settings << " | " << (t.value("fits", false) ? "yes" : "no") << " | "
       << (measured ? t["measured_peak_bytes"].get<double>() : t.value("predicted_peak_bytes", 0.0)) / (1 << 30) << " | "
       << (measured ? t["measured_step_seconds"].get<double>() : t.value("predicted_step_seconds", 0.0)) << " | "
       << (measured ? t["measured_throughput"].get<double>() : t.value("predicted_throughput", 0.0)) << " | "
       << t.value("status", "planned") << (t.contains("reason") ? ": " + t["reason"].get<std::string>().substr(0, 80) : "") << " |\n";
  }
  md << "\n![pareto](pareto.svg)\n";
  if (!order.empty() && objective(trials[order[0]], s.objective) >= 0) {
    const json& winner = trials[order[0]];
    std::map<std::string, std::vector<std::string>> tables;
    for (const auto& a : winner["settings"]) {
      std::string text = a;
      auto dot = text.find('.'), eq = text.find('=');
      std::string value = text.substr(eq + 1);
      bool bare = !value.empty() && (std::isalpha(static_cast<unsigned char>(value[0])) && value != "true" && value != "false");
      tables[text.substr(0, dot)].push_back(text.substr(dot + 1, eq - dot - 1) + " = " + (bare ? "\"" + value + "\"" : value));
    }
    std::string toml = "# The best layout of " + s.file.string() + " (" + s.objective + ")\ninclude = [\"" +
                       std::filesystem::absolute(s.base).string() + "\"]\n";
    for (const auto& [table, lines] : tables) {
      toml += "\n[" + table + "]\n";
      for (const auto& line : lines) toml += line + "\n";
    }
    write_file_atomic(o.out / "best.toml", toml);
    md << "\nBest layout: `best.toml` (run it with `vggt-lab run " << (o.out / "best.toml").string() << "`).\n";
  }
  write_file_atomic(o.out / "report.md", md.str());
}

/// exclude = [{ "placement.plugin" = "single", "devices.count" = 4 }, ...]: keys must be axes.
std::vector<std::vector<std::string>> read_exclude(const toml::node& node, const SweepFile& s,
                                                   const std::filesystem::path& file) {
  const toml::array* entries = node.as_array();
  if (!entries) throw InputError(where(node, file) + ": exclude must be a list of tables, e.g. [{ \"devices.count\" = 4 }]");
  std::vector<std::vector<std::string>> out;
  for (const auto& entry : *entries) {
    const toml::table* t = entry.as_table();
    if (!t || t->empty()) throw InputError(where(entry, file) + ": each exclude entry is a table of axis = value");
    std::vector<std::string> assignments;
    for (const auto& [key, value] : *t) {
      std::string k(key.str());
      bool axis = std::any_of(s.axes.begin(), s.axes.end(), [&](const auto& a) { return a.first == k; });
      if (!axis) throw InputError(where(value, file) + ": exclude names '" + k + "', which is not an axis in [axes]");
      assignments.push_back(k + "=" + toml_text(value));
    }
    out.push_back(std::move(assignments));
  }
  return out;
}

}  // namespace

SweepFile read_sweep(const std::filesystem::path& file) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw InputError(file.string() + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": TOML syntax error: " + std::string(e.description()));
  }
  SweepFile s;
  s.file = file;
  const toml::table* sweep = root["sweep"].as_table();
  if (!sweep) throw InputError(file.string() + ": needs a [sweep] table with base = \"<experiment>.toml\"");
  static const std::vector<std::string> keys = {"base",    "mode",    "objective", "memory_cap", "steps",
                                                 "timeout_s", "exclude", "search",    "beam_width"};
  for (const auto& [key, node] : *sweep) {
    std::string k(key.str());
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
      throw InputError(where(node, file) + ": unknown key '" + k +
                       "' in [sweep]; valid keys: base, mode, objective, memory_cap, steps, timeout_s, exclude, "
                       "search, beam_width");
    }
  }
  auto base = sweep->get("base");
  if (!base || !base->is_string()) throw InputError(file.string() + ": [sweep] needs base = \"<experiment>.toml\"");
  s.base = file.parent_path() / base->as_string()->get();
  s.mode = (*sweep)["mode"].value_or(std::string("plan"));
  s.objective = (*sweep)["objective"].value_or(std::string("throughput"));
  if (s.mode != "plan" && s.mode != "measure") throw InputError(where(*sweep->get("mode"), file) + ": mode must be plan or measure");
  if (s.objective != "throughput" && s.objective != "frames") {
    throw InputError(where(*sweep->get("objective"), file) + ": objective must be throughput or frames");
  }
  if (auto cap = sweep->get("memory_cap")) {
    auto bytes = parse_bytes(cap->value_or(std::string()));
    if (!bytes) throw InputError(where(*cap, file) + ": memory_cap must be a size such as \"80GiB\"");
    s.memory_cap = *bytes;
  }
  s.steps = (*sweep)["steps"].value_or(int64_t{3});
  s.search = (*sweep)["search"].value_or(std::string("none"));
  if (s.search != "none" && s.search != "beam") {
    throw InputError(where(*sweep->get("search"), file) + ": search must be \"none\" or \"beam\" (split points beyond the grid)");
  }
  s.beam_width = (*sweep)["beam_width"].value_or(int64_t{4});
  if (s.beam_width < 1) throw InputError(where(*sweep->get("beam_width"), file) + ": beam_width must be at least 1");
  s.timeout_s = (*sweep)["timeout_s"].value_or(600.0);
  const toml::table* axes = root["axes"].as_table();
  if (!axes || axes->empty()) throw InputError(file.string() + ": needs an [axes] table, e.g. \"placement.plugin\" = [\"single\", \"pipeline\"]");
  for (const auto& [key, node] : *axes) {
    std::string k(key.str());
    const toml::array* values = node.as_array();
    if (k.find('.') == std::string::npos || !values || values->empty()) {
      throw InputError(where(node, file) + ": axis '" + k + "' must be \"table.key\" = [values...]");
    }
    std::vector<std::string> texts;
    for (const auto& v : *values) texts.push_back(toml_text(v));
    s.axes.emplace_back(k, texts);
  }
  if (auto exclude = sweep->get("exclude")) s.exclude = read_exclude(*exclude, s, file);
  if (!std::filesystem::exists(s.base)) throw InputError(where(*base, file) + ": base experiment " + s.base.string() + " does not exist");
  return s;
}

std::vector<std::vector<std::string>> grid(const SweepFile& s) {
  auto excluded = [&](const std::vector<std::string>& trial) {
    return std::any_of(s.exclude.begin(), s.exclude.end(), [&](const auto& entry) {
      return std::all_of(entry.begin(), entry.end(),
                         [&](const auto& a) { return std::find(trial.begin(), trial.end(), a) != trial.end(); });
    });
  };
  std::vector<std::vector<std::string>> out{{}};
  for (const auto& [axis, values] : s.axes) {
    std::vector<std::vector<std::string>> next;
    for (const auto& partial : out) {
      for (const auto& v : values) {
        auto t = partial;
        t.push_back(axis + "=" + v);
        next.push_back(std::move(t));
      }
    }
    out = std::move(next);
  }
  out.erase(std::remove_if(out.begin(), out.end(), excluded), out.end());
  return out;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  auto ranks = [](const std::vector<double>& v) {
    std::vector<std::size_t> order(v.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto x, auto y) { return v[x] < v[y]; });
    std::vector<double> r(v.size());
    for (std::size_t i = 0; i < order.size(); ++i) r[order[i]] = double(i);
    return r;
  };
  auto ra = ranks(a), rb = ranks(b);
  double n = double(a.size()), d2 = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
  return n > 1 ? 1.0 - 6.0 * d2 / (n * (n * n - 1)) : 0.0;
}

namespace {

/// One trial's row: planned, and in measure mode run; a failure is recorded, not thrown.
json evaluate_trial(const std::vector<std::string>& trial, const json& note, const SweepFile& s, const Options& o,
                    const std::string& mode, const PluginHost& host) {
  const std::string id = id_of(trial);
  json row{{"id", id}, {"settings", trial}};
  row.update(note);
  try {
    try {
      row.update(plan_trial(s, trial, host));
    } catch (const InputError& e) {  // a strategy saying nothing fits
      row.update({{"fits", false}, {"problems", {e.what()}}, {"reason", e.what()}});
    }
    row["status"] = mode == "plan" ? "planned" : "pending";
    if (mode == "measure" && row["fits"].get<bool>()) row.update(measure_trial(s, trial, o, id));
    if (mode == "measure" && !row["fits"].get<bool>()) row["status"] = "skipped", row["reason"] = "does not fit (plan)";
  } catch (const std::exception& e) {
    row["status"] = "failed";
    row["reason"] = e.what();
  }
  return row;
}

/// results.json as a measuring sweep goes: every finished trial is in it,
/// so an interrupted sweep resumes from the trials it finished. (Planning
/// sweeps take milliseconds a trial and write it once, at the end.)
struct Progress {
  json results;                          // the sweep's header, then its finished trials
  std::map<std::string, json> previous;  // finished trials of an earlier run, by id
  std::filesystem::path file;

  void finished(const json& row) {
    if (results["mode"] != "measure") return;
    results["trials"].push_back(row);
    write_file_atomic(file, results.dump(2) + "\n");
  }
};

/// Plans, and in measure mode runs, each trial; `notes` (by index) go into
/// the rows. Finished trials of an earlier run are taken from `progress`.
std::vector<json> evaluate(const std::vector<std::vector<std::string>>& trials, const std::vector<json>& notes,
                           const SweepFile& s, const Options& o, const std::string& mode, const PluginHost& host,
                           Progress& progress, spdlog::logger& log) {
  std::mutex mutex;
  std::size_t next = 0, finished = 0, failed = 0;
  std::vector<json> rows(trials.size());
  if (trials.empty()) return rows;
  auto start = Clock::now();
  auto worker = [&] {
    while (true) {
      std::size_t i;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next >= trials.size()) return;
        i = next++;
      }
      const std::string id = id_of(trials[i]);
      auto cached = progress.previous.find(id);
      json row = cached != progress.previous.end() ? cached->second
                                          : evaluate_trial(trials[i], i < notes.size() ? notes[i] : json::object(), s,
                                                           o, mode, host);
      std::lock_guard<std::mutex> lock(mutex);
      rows[i] = row;
      progress.finished(row);
      ++finished;
      failed += row.value("status", "") == "failed";
      double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      double eta = elapsed / double(finished) * double(trials.size() - finished);
      std::string settings;
      for (const auto& a : trials[i]) settings += (settings.empty() ? "" : " ") + a;
      const std::string status = row.value("status", "");
      if (o.progress_bar) {
        std::fprintf(stderr, "\r\033[Ktrials %zu/%zu done, %zu failed, eta %.0f s; last: %s (%s)", finished,
                     trials.size(), failed, eta, settings.c_str(), status.c_str());
      } else if (mode == "measure" || finished % 50 == 0 || finished == trials.size()) {
        log.info("trials {}/{} done, {} failed, eta {:.0f} s; last: {} ({})", finished, trials.size(), failed, eta,
                 settings, status);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int j = 0; j < std::max(1, o.jobs); ++j) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (o.progress_bar) std::fputs("\n", stderr);
  return rows;
}

/// For each fitting grid trial whose placement has `splits`, a beam search
/// over them; a better split becomes a new trial (its settings plus
/// placement.splits), noted with where it came from.
std::pair<std::vector<std::vector<std::string>>, std::vector<json>> search_beyond_grid(
    const std::vector<std::vector<std::string>>& trials, const std::vector<json>& rows, const SweepFile& s,
    const PluginHost& host, std::set<std::string>& seen, spdlog::logger& log) {
  SplitSearch options;
  options.beam_width = int(s.beam_width);
  options.objective = s.objective;
  std::vector<std::vector<std::string>> found;
  std::vector<json> notes;
  int searched = 0, evaluated = 0;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (!rows[i].value("fits", false)) continue;
    std::optional<SplitResult> result;
    try {
      result = search_splits(trial_config(s, trials[i], host), host, options);
    } catch (const std::exception& e) {
      log.warn("split search for trial {} failed: {}", rows[i]["id"].get<std::string>(), e.what());
    }
    if (!result) continue;
    ++searched;
    evaluated += result->evaluated;
    if (!result->improved()) continue;
    std::vector<std::string> trial;
    for (const auto& a : trials[i]) {
      if (a.rfind("placement.splits=", 0) != 0) trial.push_back(a);
    }
    trial.push_back("placement.splits=" + list_text(result->best));
    if (!seen.insert(id_of(trial)).second) continue;
    found.push_back(trial);
    notes.push_back({{"searched_from", rows[i]["id"]},
                     {"search", {{"start", result->start}, {"best", result->best},
                                 {"start_score", result->start_score}, {"best_score", result->best_score},
                                 {"evaluated", result->evaluated}}}});
  }
  log.info("split search: {} trial(s) searched, {} candidate plans, {} better split(s) added as trials", searched,
           evaluated, found.size());
  return {found, notes};
}

}  // namespace

json run(const SweepFile& s, const Options& o, spdlog::logger& log) {
  std::filesystem::create_directories(o.out);
  const std::string mode = o.mode.empty() ? s.mode : o.mode;
  PluginHost host(nullptr);
  std::vector<std::filesystem::path> config_paths;
  host.load_search_path(plugin_search_path(o.plugin_paths, config_paths, std::getenv("VGGT_LAB_PLUGIN_PATH")));
  json results{{"sweep", s.file.string()}, {"base", s.base.string()}, {"mode", mode}, {"trials", json::array()}};
  Progress progress{results, {}, o.out / "results.json"};
  std::ifstream existing(progress.file);
  if (existing) {
    json old;
    existing >> old;
    for (const auto& t : old["trials"]) {
      if (t.value("status", "") == "done" || (mode == "plan" && t.contains("fits"))) progress.previous[t["id"]] = t;
    }
  }
  std::vector<std::vector<std::string>> trials;
  std::set<std::string> seen;
  std::size_t merged = 0;
  for (const auto& t : grid(s)) {
    auto kept = effective(applicable(t, host.registry()), s, host);
    if (seen.insert(id_of(kept)).second) {
      trials.push_back(kept);
    } else {
      ++merged;
    }
  }
  if (merged > 0) {
    log.info("{} grid trial(s) merged into identical ones (options their plugin lacks dropped, micro-batches above "
             "the batch size run as the batch size)", merged);
  }
  results["merged_trials"] = merged;
  auto rows = evaluate(trials, {}, s, o, mode, host, progress, log);
  if (s.search == "beam") {
    auto searched = search_beyond_grid(trials, rows, s, host, seen, log);
    auto more = evaluate(searched.first, searched.second, s, o, mode, host, progress, log);
    rows.insert(rows.end(), more.begin(), more.end());
  }
  for (auto& r : rows) results["trials"].push_back(r);
  write_outputs(s, o, results);
  return results;
}

}  // namespace vggt_lab::sweep
