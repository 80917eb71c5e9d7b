#include "sweep/sweep.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "host/child.hpp"
#include "host/files.hpp"
#include "host/interrupt.hpp"
#include "io/checksum.hpp"
#include "report/run_report.hpp"
#include "sweep/outputs.hpp"
#include "sweep/split_search.hpp"

namespace vggt_lab::sweep {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

/// What a trial applies on top of the base experiment, with the sweep's own
/// settings: steps and no evaluation when measured, the memory cap.
Trial with_defaults(const Trial& trial, const SweepFile& s, bool measure) {
  Trial out = trial;
  if (measure) {
    out.push_back({"train", "steps", std::to_string(s.steps)});
    out.push_back({"train", "eval_scenes", "0"});
  }
  if (s.memory_cap > 0) out.push_back({"devices", "memory", "\"" + std::to_string(s.memory_cap) + "\""});
  return out;
}

/// Keeps only settings the chosen plugins accept (e.g. micro_batches for
/// pipeline only), so the grid needs no filters for plugin-specific options.
Trial applicable(const Trial& trial, const Registry& registry) {
  std::map<std::string, std::string> plugin_of;  // table -> plugin the trial names
  for (const Setting& a : trial) {
    if (a.key == "plugin") plugin_of[a.table] = a.value;
  }
  Trial out;
  for (const Setting& a : trial) {
    auto kind = plugin_tables().find(a.table);
    auto plugin = plugin_of.find(a.table);
    if (kind != plugin_tables().end() && plugin != plugin_of.end() && a.key != "plugin") {
      const auto* p = registry.find(kind->second, plugin->second);
      if (p && !p->info.schema.find(a.key)) continue;
    }
    out.push_back(a);
  }
  return out;
}

/// The base experiment with a trial's settings (plan-mode defaults).
ResolvedConfig trial_config(const SweepFile& s, const Trial& trial, const PluginHost& host) {
  RawConfig raw = load_config(s.base);
  for (const Setting& a : with_defaults(trial, s, false)) apply_override(raw, a.text());
  return resolve_config(raw, host.registry());
}

/// The trial as it will run: a micro-batch count above the batch size runs
/// as the batch size, so it is written so (and identical trials merge).
Trial effective(Trial trial, const SweepFile& s, const PluginHost& host) {
  auto it = std::find_if(trial.begin(), trial.end(),
                         [](const Setting& a) { return a.table == "placement" && a.key == "micro_batches"; });
  if (it == trial.end()) return trial;
  try {
    ResolvedConfig config = trial_config(s, trial, host);
    const std::int64_t batch = config.core("train").get<std::int64_t>("batch_size");
    if (config.plugin_options("placement").get<std::int64_t>("micro_batches") > batch) it->value = std::to_string(batch);
  } catch (const Error&) {  // reported when the trial is planned
  }
  return trial;
}

/// Refuses, where it is written, an axis value no trial can use: one every
/// trial holding it fails to resolve with (an unknown plugin or key, a value
/// out of range), or one every trial drops because no plugin it tries takes
/// the key. A value that fails in some combinations only is left to its trials.
void check_axis_values(const SweepFile& s, const PluginHost& host) {
  trial_config(s, {}, host);  // the base experiment alone, with its own file:line:col
  std::set<std::string> used, dropped;
  std::map<std::string, std::string> refused;  // setting -> the first trial's error
  for (const Trial& t : grid(s)) {
    const Trial kept = applicable(t, host.registry());
    for (const Setting& a : t) {
      if (std::find(kept.begin(), kept.end(), a) == kept.end()) dropped.insert(a.text());
    }
    try {
      trial_config(s, kept, host);
      for (const Setting& a : kept) used.insert(a.text());
    } catch (const InputError& e) {
      for (const Setting& a : kept) refused.emplace(a.text(), e.what());
    }
  }
  for (const Axis& axis : s.axes) {
    for (std::size_t i = 0; i < axis.values.size(); ++i) {
      const std::string text = Setting{axis.table, axis.key, axis.values[i]}.text();
      if (used.count(text)) continue;
      if (refused.count(text)) {
        throw InputError(axis.where[i] + ": " + text + " fails in every trial holding it: " + refused[text]);
      }
      if (dropped.count(text)) {
        throw InputError(axis.where[i] + ": no [" + axis.table + "] plugin this sweep tries takes '" + axis.key +
                         "', so every trial drops " + text + "; see `vggt-lab plugins show` for their options");
      }
    }
  }
}

Prediction plan_trial(const ResolvedConfig& config, const SweepFile& s, const PluginHost& host, TrialResult& row) {
  PlanReport report = plan_from_config(config, host.registry(), host.context(s.base.parent_path()));
  Prediction p{report.plan.strategy, report.shape.frames, 0, report.timeline.makespan, 0, {}, {}};
  for (std::size_t d = 0; d < report.predicted.size(); ++d) {
    p.device_peaks.push_back(double(report.predicted[d].total()));
    p.device_bubbles.push_back(report.timeline.bubble(int(d)));
    p.peak_bytes = std::max(p.peak_bytes, p.device_peaks.back());
  }
  if (p.step_seconds > 0) p.throughput = double(report.shape.batch * report.shape.frames) / p.step_seconds;
  row.fits = report.fits();
  row.problems = report.problems;
  return p;
}

/// The last 600 characters of a child's log.
std::string log_tail(const std::filesystem::path& log) {
  std::ifstream text(log);
  std::string tail((std::istreambuf_iterator<char>(text)), std::istreambuf_iterator<char>());
  return tail.size() > 600 ? tail.substr(tail.size() - 600) : tail;
}

/// Step time, throughput (the first step warms up and is left out), peaks
/// and bytes moved, from a run folder's metrics.jsonl.
Measurement read_metrics(const std::filesystem::path& dir) {
  Measurement m{dir};
  double seconds = 0, samples = 0;
  int counted = 0;
  for (const json& step : report::read_lines(dir / "metrics.jsonl")) {
    if (!step.contains("loss")) continue;
    if (step["step"].get<int>() > 1) {
      seconds += step["step_seconds"].get<double>();
      samples += step["batch"].get<double>() * step["frames"].get<double>();
      ++counted;
    }
    for (std::size_t d = 0; d < step["devices"].size(); ++d) {
      if (m.device_peaks.size() <= d) m.device_peaks.push_back(0);
      m.device_peaks[d] = std::max(m.device_peaks[d], step["devices"][d]["peak_bytes"].get<double>());
      m.bytes_moved += step["devices"][d]["bytes_sent"].get<double>();
    }
  }
  m.step_seconds = counted ? seconds / counted : 0.0;
  m.throughput = seconds > 0 ? samples / seconds : 0.0;
  m.peak_bytes = m.device_peaks.empty() ? 0.0 : *std::max_element(m.device_peaks.begin(), m.device_peaks.end());
  return m;
}

/// Runs `vggt-lab run` for one trial in a child process, with a timeout.
void measure_trial(const SweepFile& s, const Settings& o, TrialResult& row) {
  const auto dir = o.out / "trials" / row.id;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(o.out / "trials");
  std::vector<std::string> args{o.executable.string(), "-q", "run", s.base.string(), "--out", dir.string()};
  for (const auto& p : o.plugin_paths) args.insert(args.begin() + 1, {"--plugin-path", p.string()});
  for (const Setting& a : with_defaults(row.settings, s, true)) args.insert(args.end(), {"--set", a.text()});
  const auto log = o.out / "trials" / (row.id + ".log");
  const std::string cores = std::to_string(std::max(1, process_cores() / std::max(1, o.jobs)));
  const ChildExit exit = wait_child(start_child({args, {{"VGGT_LAB_CORES", cores}}, log}), s.timeout_s);
  row.status = "failed";
  if (exit.timed_out) {
    row.reason = "timed out after " + std::to_string(int(s.timeout_s)) + " s";
  } else if (exit.signalled) {
    row.reason = "killed by signal " + std::to_string(exit.status - 128) + " (out of memory?)";
  } else if (exit.status != 0) {
    row.reason = "exit " + std::to_string(exit.status) + ": " + log_tail(log);
  } else {
    row.status = "done";
    row.measured = read_metrics(dir);
  }
}

/// One trial's row: planned, and in measure mode run; a failure is recorded, not thrown.
TrialResult evaluate_trial(const Trial& trial, const std::optional<SearchOrigin>& origin, const SweepFile& s,
                           const Settings& o, const std::string& mode, const PluginHost& host) {
  TrialResult row{trial_id(trial), trial};
  row.search = origin;
  std::optional<ResolvedConfig> config;
  try {
    config = trial_config(s, trial, host);
  } catch (const InputError& e) {  // settings that do not go together
    row.status = "invalid";
    row.reason = e.what();
    return row;
  }
  try {
    try {
      row.predicted = plan_trial(*config, s, host, row);
    } catch (const InputError& e) {  // a strategy saying nothing fits
      row.fits = false;
      row.problems = {e.what()};
      row.reason = e.what();
    }
    row.status = mode == "plan" ? "planned" : "pending";
    if (mode == "measure" && row.fits) measure_trial(s, o, row);
    if (mode == "measure" && !row.fits) row.status = "skipped", row.reason = "does not fit (plan)";
  } catch (const std::exception& e) {
    row.status = "failed";
    row.reason = e.what();
  }
  return row;
}

/// results.json as a measuring sweep goes: every finished trial is in it,
/// so an interrupted sweep resumes from the trials it finished. (Planning
/// sweeps take milliseconds a trial and write it once, at the end.)
struct Progress {
  Results results;                              // the sweep's header, then its finished trials
  std::map<std::string, TrialResult> previous;  // finished trials of an earlier run, by id
  std::filesystem::path file;

  void finished(const TrialResult& row) {
    if (results.mode != "measure") return;
    results.trials.push_back(row);
    write_results_json(results, file);
  }
};

/// One line of progress after a trial finishes.
void report_progress(const Settings& o, const std::string& mode, spdlog::logger& log, std::size_t finished,
                     std::size_t total, std::size_t failed, double eta, const TrialResult& row) {
  const std::string settings = settings_text(row.settings);
  if (o.progress_bar) {
    std::fprintf(stderr, "\r\033[Ktrials %zu/%zu done, %zu failed, eta %.0f s; last: %s (%s)", finished, total,
                 failed, eta, settings.c_str(), row.status.c_str());
  } else if (mode == "measure" || finished % 50 == 0 || finished == total) {
    log.info("trials {}/{} done, {} failed, eta {:.0f} s; last: {} ({})", finished, total, failed, eta, settings,
             row.status);
  }
}

/// Plans, and in measure mode runs, each trial; `origins` (by index) go into
/// the rows. Finished trials of an earlier run are taken from `progress`.
std::vector<TrialResult> evaluate(const std::vector<Trial>& trials, const std::vector<SearchOrigin>& origins,
                                  const SweepFile& s, const Settings& o, const std::string& mode,
                                  const Session& session, Progress& progress) {
  std::mutex mutex;
  std::size_t next = 0, finished = 0, failed = 0;
  std::vector<TrialResult> rows(trials.size());
  if (trials.empty()) return rows;
  const auto start = Clock::now();
  auto worker = [&] {
    while (true) {
      std::size_t i;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (next >= trials.size() || interrupt_signal() != 0) return;
        i = next++;
      }
      auto cached = progress.previous.find(trial_id(trials[i]));
      TrialResult row = cached != progress.previous.end()
                            ? cached->second
                            : evaluate_trial(trials[i], i < origins.size() ? std::optional(origins[i]) : std::nullopt,
                                             s, o, mode, *session.host);
      if (row.status == "failed" && interrupt_signal() != 0) return;  // its run was stopped too: not a result
      std::lock_guard<std::mutex> lock(mutex);
      progress.finished(row);
      ++finished;
      failed += row.status == "failed";
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      report_progress(o, mode, *session.logger, finished, trials.size(), failed,
                      elapsed / double(finished) * double(trials.size() - finished), row);
      rows[i] = std::move(row);
    }
  };
  std::vector<std::thread> pool;
  for (int j = 0; j < std::max(1, o.jobs); ++j) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (o.progress_bar) std::fputs("\n", stderr);
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](const TrialResult& r) { return r.id.empty(); }),
             rows.end());  // trials an interrupt left unstarted
  return rows;
}

/// For each fitting grid trial whose placement has `splits`, a beam search
/// over them; a better split becomes a new trial (its settings plus
/// placement.splits), with where it came from.
std::pair<std::vector<Trial>, std::vector<SearchOrigin>> search_beyond_grid(
    const std::vector<Trial>& trials, const std::vector<TrialResult>& rows, const SweepFile& s,
    const PluginHost& host, std::set<std::string>& seen, spdlog::logger& log) {
  SplitSearch options;
  options.beam_width = int(s.beam_width);
  options.objective = s.objective;
  std::vector<Trial> found;
  std::vector<SearchOrigin> origins;
  int searched = 0, evaluated = 0;
  for (std::size_t i = 0; i < trials.size(); ++i) {
    if (!rows[i].fits) continue;
    std::optional<SplitResult> result;
    try {
      result = search_splits(trial_config(s, trials[i], host), host, options);
    } catch (const std::exception& e) {
      log.warn("split search for trial {} failed: {}", rows[i].id, e.what());
    }
    if (!result) continue;
    ++searched;
    evaluated += result->evaluated;
    if (!result->improved()) continue;
    Trial trial;
    std::copy_if(trials[i].begin(), trials[i].end(), std::back_inserter(trial),
                 [](const Setting& a) { return !(a.table == "placement" && a.key == "splits"); });
    trial.push_back({"placement", "splits", list_text(result->best)});
    if (!seen.insert(trial_id(trial)).second) continue;
    found.push_back(trial);
    origins.push_back({rows[i].id, result->start, result->best, result->start_score, result->best_score,
                       result->evaluated});
  }
  log.info("split search: {} trial(s) searched, {} candidate plans, {} better split(s) added as trials", searched,
           evaluated, found.size());
  return {found, origins};
}

/// The grid as it will run: options their plugin lacks dropped, identical trials merged.
std::vector<Trial> distinct_trials(const SweepFile& s, const PluginHost& host, std::set<std::string>& seen,
                                   std::size_t& merged) {
  std::vector<Trial> trials;
  for (const Trial& t : grid(s)) {
    Trial kept = effective(applicable(t, host.registry()), s, host);
    if (seen.insert(trial_id(kept)).second) {
      trials.push_back(std::move(kept));
    } else {
      ++merged;
    }
  }
  return trials;
}

/// What a trial's result depends on besides its settings: the base
/// experiment as resolved, the memory cap and the steps a trial trains.
std::string conditions(const SweepFile& s, const PluginHost& host) {
  std::string text;
  try {
    text = trial_config(s, {}, host).to_toml();
  } catch (const InputError&) {  // a base that resolves only with axis values: its file
    std::ifstream in(s.base);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  text += "\nmemory_cap=" + std::to_string(s.memory_cap) + "\nsteps=" + std::to_string(s.steps);
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", crc32c(text.data(), text.size()));
  return hex;
}

/// Finished trials of an earlier run, by id: measured ones that are done;
/// in plan mode, every planned one. Results of other conditions are planned
/// again when only planned, and refused when measuring or measured (their
/// runs are in `dir`).
std::map<std::string, TrialResult> earlier_trials(const std::filesystem::path& dir, const std::string& mode,
                                                  const std::string& now, spdlog::logger& log) {
  std::map<std::string, TrialResult> out;
  const auto file = dir / "results.json";
  if (!std::filesystem::exists(file)) return out;
  Results earlier = read_results_json(file);
  if (!earlier.conditions.empty() && earlier.conditions != now) {
    const bool measured = std::any_of(earlier.trials.begin(), earlier.trials.end(),
                                      [](const TrialResult& t) { return t.status == "done"; });
    if (mode == "measure" || measured) {
      throw InputError(dir.string() + " holds trials of another sweep, or of this one before its base experiment, "
                       "memory_cap or steps changed: choose another --out, or remove " + file.string() +
                       " to run every trial again");
    }
    log.info("{}: planned under other conditions (base experiment, memory_cap); planning every trial again",
             file.string());
    return out;
  }
  for (TrialResult& t : earlier.trials) {
    if (t.status == "done" || (mode == "plan" && !t.status.empty())) out[t.id] = std::move(t);
  }
  return out;
}

/// Spearman correlation of predicted and measured throughput over measured trials (3 or more).
std::optional<double> rank_correlation(const std::vector<TrialResult>& trials) {
  std::vector<double> predicted, measured;
  for (const TrialResult& t : trials) {
    if (t.status == "done" && t.measured) {
      predicted.push_back(t.predicted.throughput);
      measured.push_back(t.measured->throughput);
    }
  }
  if (predicted.size() < 3) return std::nullopt;
  return spearman(predicted, measured);
}

/// Refuses an --out holding files of no sweep: the report, plots and
/// best.toml would be written among them, over files of the same names.
void check_out_holds_a_sweep(const std::filesystem::path& out) {
  if (std::filesystem::exists(out / "results.json")) return;  // a sweep's folder, continued
  require_own_files(out, "a sweep", [](const std::string& name) { return name == ".lock" || name == "trials"; },
                    ", or a sweep's folder to continue it");
}

}  // namespace

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

Results run(const SweepFile& s, const Settings& o, const Session& session) {
  check_axis_values(s, *session.host);
  check_out_holds_a_sweep(o.out);
  std::filesystem::create_directories(o.out);
  const FolderLock lock(o.out);  // two sweeps into one folder would write each other's trials
  const std::string mode = o.mode.empty() ? s.mode : o.mode;
  Results results{s.file, s.base, mode};
  results.conditions = conditions(s, *session.host);
  Progress progress{results, earlier_trials(o.out, mode, results.conditions, *session.logger), o.out / "results.json"};
  std::set<std::string> seen;
  const std::vector<Trial> trials = distinct_trials(s, *session.host, seen, results.merged_trials);
  if (results.merged_trials > 0) {
    session.logger->info("{} grid trial(s) merged into identical ones (options their plugin lacks dropped, "
                         "micro-batches above the batch size run as the batch size)", results.merged_trials);
  }
  progress.results.merged_trials = results.merged_trials;
  results.trials = evaluate(trials, {}, s, o, mode, session, progress);
  results.interrupted = interrupt_signal();
  if (s.search == "beam" && results.interrupted == 0) {
    auto [found, origins] = search_beyond_grid(trials, results.trials, s, *session.host, seen, *session.logger);
    auto more = evaluate(found, origins, s, o, mode, session, progress);
    results.trials.insert(results.trials.end(), more.begin(), more.end());
    results.interrupted = interrupt_signal();
  }
  results.rank_correlation = rank_correlation(results.trials);
  write_outputs(s, results, o.out);
  return results;
}

}  // namespace vggt_lab::sweep
