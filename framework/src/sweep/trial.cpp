#include "sweep/trial.hpp"

namespace vggt_lab::sweep {

using json = nlohmann::json;

std::string trial_id(const Trial& trial) {
  std::string joined;
  for (const Setting& s : trial) joined += s.text() + ";";
  return std::to_string(std::hash<std::string>{}(joined) % 1000000007ULL);
}

std::string settings_text(const Trial& trial, const std::string& separator) {
  std::string out;
  for (const Setting& s : trial) out += (out.empty() ? "" : separator) + s.text();
  return out;
}

double TrialResult::score(const std::string& objective) const {
  if (!fits || (status != "done" && status != "planned")) return -1;
  return objective == "frames" ? double(predicted.frames) : throughput();
}

namespace {

json settings_json(const Trial& trial) {
  json out = json::array();
  for (const Setting& s : trial) out.push_back(s.text());
  return out;
}

/// "table.key=value" back into a setting (the table holds no '.', the key no '=').
Setting setting_of(const std::string& text) {
  const auto dot = text.find('.'), eq = text.find('=', dot);
  return {text.substr(0, dot), text.substr(dot + 1, eq - dot - 1), text.substr(eq + 1)};
}

}  // namespace

void to_json(json& out, const TrialResult& r) {
  out = {{"id", r.id}, {"settings", settings_json(r.settings)}, {"status", r.status}, {"fits", r.fits},
         {"problems", r.problems}, {"strategy", r.predicted.strategy}, {"frames", r.predicted.frames},
         {"predicted_peak_bytes", r.predicted.peak_bytes}, {"predicted_step_seconds", r.predicted.step_seconds},
         {"predicted_throughput", r.predicted.throughput}, {"predicted_device_peaks", r.predicted.device_peaks},
         {"predicted_device_bubbles", r.predicted.device_bubbles}};
  if (!r.reason.empty()) out["reason"] = r.reason;
  if (const auto& m = r.measured) {
    out.update({{"run_dir", m->run_dir.string()}, {"measured_step_seconds", m->step_seconds},
                {"measured_throughput", m->throughput}, {"measured_peak_bytes", m->peak_bytes},
                {"measured_device_peaks", m->device_peaks}, {"bytes_moved", m->bytes_moved}});
  }
  if (const auto& s = r.search) {
    out["searched_from"] = s->from;
    out["search"] = {{"start", s->start}, {"best", s->best}, {"start_score", s->start_score},
                     {"best_score", s->best_score}, {"evaluated", s->evaluated}};
  }
}

void from_json(const json& in, TrialResult& r) {
  r.id = in.at("id").get<std::string>();
  r.settings.clear();
  for (const auto& text : in.at("settings")) r.settings.push_back(setting_of(text.get<std::string>()));
  r.status = in.value("status", "");
  r.reason = in.value("reason", "");
  r.fits = in.value("fits", false);
  r.problems = in.value("problems", std::vector<std::string>{});
  r.predicted = {in.value("strategy", ""), in.value("frames", std::int64_t{0}), in.value("predicted_peak_bytes", 0.0),
                 in.value("predicted_step_seconds", 0.0), in.value("predicted_throughput", 0.0),
                 in.value("predicted_device_peaks", std::vector<double>{}),
                 in.value("predicted_device_bubbles", std::vector<double>{})};
  r.measured.reset();
  if (in.contains("measured_throughput")) {
    r.measured = Measurement{in.value("run_dir", ""), in.value("measured_step_seconds", 0.0),
                             in.value("measured_throughput", 0.0), in.value("measured_peak_bytes", 0.0),
                             in.value("bytes_moved", 0.0), in.value("measured_device_peaks", std::vector<double>{})};
  }
  r.search.reset();
  if (in.contains("search")) {
    const json& s = in["search"];
    r.search = SearchOrigin{in.value("searched_from", ""), s.value("start", std::vector<std::int64_t>{}),
                            s.value("best", std::vector<std::int64_t>{}), s.value("start_score", 0.0),
                            s.value("best_score", 0.0), s.value("evaluated", 0)};
  }
}

}  // namespace vggt_lab::sweep
