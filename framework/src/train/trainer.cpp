#include "train/trainer.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "distributed/reducer.hpp"
#include "host/child.hpp"
#include "host/files.hpp"
#include "host/interrupt.hpp"
#include "io/event_file.hpp"
#include "plan/actions_json.hpp"
#include "runtime/memory_meter.hpp"
#include "train/device_optimizers.hpp"
#include "train/evaluation.hpp"
#include "train/loader.hpp"
#include "train/losses.hpp"
#include "vggt_lab/data.hpp"
#include "vggt_lab/optim.hpp"
#include "vggt_lab/schedule.hpp"
#include "vggt_lab/state_dict.hpp"

namespace vggt_lab::train {
namespace {

using Clock = std::chrono::steady_clock;

template <class I>
PluginObject<I> create(const TrainerSetup& s, const std::string& table) {
  return create_plugin<I>(*s.config, table, *s.registry, s.context);
}

/// Dynamic loss scaling for fp16, as torch.cuda.amp.GradScaler.
struct Scaler {
  bool on = false;
  double scale = 65536.0;
  std::int64_t growth_tracker = 0;
  void update(bool finite) {
    if (!on) return;
    if (!finite) {
      scale *= 0.5;
      growth_tracker = 0;
    } else if (++growth_tracker >= 2000) {
      scale *= 2.0;
      growth_tracker = 0;
    }
  }
};

/// Drops the lines of steps after `step` (written after the checkpoint a
/// resumed run continues from), so no step appears twice; returns those kept.
std::vector<nlohmann::json> keep_metrics_until(const std::filesystem::path& file, std::int64_t step) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(file);
  if (!in) return lines;
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || json.value("step", std::int64_t(0)) > step) continue;
    kept += line + "\n";
    lines.push_back(std::move(json));
  }
  write_file_atomic(file, kept);
  return lines;
}

/// A metrics line's numbers as TensorBoard scalars: the loss, its terms
/// (losses/), learning rate, gradient norms (grad_norm/), step time,
/// throughput, each device's peak (deviceN/peak_mib) and bubble, eval/.
void write_scalars(EventWriter& events, const nlohmann::json& line) {
  const std::int64_t step = line.at("step");
  for (const char* name : {"loss", "lr", "step_seconds", "samples_per_second"}) {
    if (line.contains(name) && line[name].is_number()) events.scalar(name, step, line[name].get<double>());
  }
  for (const auto& [group, prefix] : {std::pair{"losses", "losses/"}, {"grad_norms", "grad_norm/"}, {"eval", "eval/"}}) {
    if (!line.contains(group)) continue;
    for (const auto& [name, value] : line[group].items()) events.scalar(prefix + name, step, value.get<double>());
  }
  if (line.contains("devices")) {
    for (std::size_t d = 0; d < line["devices"].size(); ++d) {
      const auto& device = line["devices"][d];
      const std::string prefix = "device" + std::to_string(d) + "/";
      events.scalar(prefix + "peak_mib", step, device.at("peak_bytes").get<double>() / double(1 << 20));
      events.scalar(prefix + "bubble", step, device.at("bubble").get<double>());
    }
  }
  events.flush();
}

/// metrics.jsonl and, unless [output] tensorboard is off, the same numbers
/// in a TensorBoard event file. Closed (writes nothing) on ranks that do not
/// write the run folder. A write that fails (a full disk) is warned about
/// once and training goes on: the next checkpoint says what to do.
class MetricsLog {
 public:
  MetricsLog() = default;
  /// A run resumed at step `first` > 0 keeps the lines up to it.
  MetricsLog(const std::filesystem::path& dir, std::int64_t first, bool tensorboard, spdlog::logger& log)
      : file_(dir / "metrics.jsonl"), log_(&log) {
    if (first > 0) earlier_ = keep_metrics_until(file_, first);
    lines_.open(file_, first > 0 ? std::ios::app : std::ios::trunc);
    if (tensorboard) events_.emplace(dir, first > 0 ? first + 1 : 0);
  }
  /// The lines of the steps before the resume.
  const std::vector<nlohmann::json>& earlier() const { return earlier_; }
  void write(const nlohmann::json& line) {
    if (!lines_.is_open()) return;
    lines_ << line.dump() << "\n" << std::flush;
    if (!lines_ && !lines_failed_) {
      lines_failed_ = true;
      log_->warn("cannot write {} at step {} ({}); training goes on", file_.string(), line.value("step", 0),
                 std::strerror(errno));
    }
    lines_.clear();  // the next line tries again
    if (!events_) return;
    try {
      write_scalars(*events_, line);
    } catch (const Error& e) {
      log_->warn("{}; TensorBoard events end at step {}, training goes on", e.what(), line.value("step", 0));
      events_.reset();
    }
  }

 private:
  std::filesystem::path file_;
  spdlog::logger* log_ = nullptr;
  std::vector<nlohmann::json> earlier_;
  std::ofstream lines_;
  bool lines_failed_ = false;
  std::optional<EventWriter> events_;
};

bool all_finite(const NamedTensors& tensors) {
  return std::all_of(tensors.begin(), tensors.end(), [](const auto& t) {
    return !t.second.is_floating_point() || torch::isfinite(t.second).all().template item<bool>();
  });
}

nlohmann::json device_json(const runtime::StepResult& r) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : r.devices) {
    devices.push_back({{"peak_bytes", d.peak_bytes}, {"busy_seconds", d.busy_seconds},
                       {"bubble", r.seconds > 0 ? std::max(0.0, 1.0 - d.busy_seconds / r.seconds) : 0.0},
                       {"bytes_sent", d.bytes_sent}, {"bytes_received", d.bytes_received}});
  }
  return devices;
}

nlohmann::json reduce_json(const distributed::ReduceStats& r) {
  return {{"buckets", r.buckets},   {"during_backward", r.during_backward}, {"seconds", r.seconds},
          {"exposed_seconds", r.exposed_seconds}, {"hidden", r.hidden()}, {"recounted", r.recounted}};
}

std::vector<torch::Tensor> all_of(const std::vector<NamedParameter>& parameters) {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters) out.push_back(p.tensor);
  return out;
}

/// The CPUs this process may run on, as "0,1".
std::string cpu_list() {
  std::string out;
  for (int cpu : allowed_cpus()) out += (out.empty() ? "" : ",") + std::to_string(cpu);
  return out;
}

std::string eta(double seconds) {
  int s = int(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
  return text;
}

class Run {
 public:
  explicit Run(const TrainerSetup& s)
      : s_(s), t_(s.config->core("train")), log_(*s.context.logger),
        seed_(std::uint64_t(s.config->core("experiment").get<std::int64_t>("seed"))) {}

  TrainSummary go() {
    torch::manual_seed(seed_);
    instance_ = build_model(s_.model, t_);
    std::optional<Checkpoint> resumed;
    if (s_.resume) resumed = resume(*s_.resume);
    if (dp()) {
      dp()->broadcast(instance_->module());
      log_.info("data parallel: rank {} of {} from {} (local rank {}, {} cores, CPUs {}), {}, buckets of {} MiB{}",
                dp()->world().rank, dp()->world().size, dp()->world().launcher, dp()->world().local_rank, process_cores(),
                cpu_list(), dp()->settings().backend,
                dp()->settings().bucket_cap_mb, dp()->settings().overlap ? " reduced during backward" : "");
    }
    runtime::RuntimeOptions options;
    options.autocast = autocast_of(t_.get<std::string>("precision"));
    options.replica = [this] { return build_model(s_.model, t_); };
    scaler_.on = t_.get<std::string>("precision") == "fp16";
    executor_ = std::make_unique<runtime::Executor>(instance_, s_.plan.graph, s_.plan.plan, s_.plan.topology,
                                                    std::make_shared<runtime::InProcessTransport>(s_.plan.topology), options);
    make_optimizers(resumed);
    if (dp()) {
      reducer_ = std::make_unique<distributed::Reducer>(
          *dp(), trainable_, dp()->settings().overlap ? executor_->completed_after_backward() : all_of(trainable_));
    }
    source_ = create<DataSource>(s_, "data");
    if (s_.config->plugin("gradient")) policy_ = create<GradientPolicy>(s_, "gradient");
    std::int64_t first = resumed ? resumed->state.step : 0;
    LoaderOptions data = loader_options(t_, seed_);
    if (dp()) {
      data.rank = dp()->world().rank;
      data.world_size = dp()->world().size;
    }
    train::BatchLoader loader(source_.object, data, resumed ? resumed->state.data_position : 0);
    return loop(loader, first);
  }

 private:
  const TrainerSetup& s_;
  const Options& t_;
  spdlog::logger& log_;
  std::uint64_t seed_;
  std::shared_ptr<ModelInstance> instance_;
  std::unique_ptr<runtime::Executor> executor_;
  PluginObject<Optimizer> optimizer_;
  std::optional<DeviceOptimizers> states_;
  std::vector<NamedParameter> trainable_;
  PluginObject<DataSource> source_;
  std::optional<PluginObject<GradientPolicy>> policy_;
  Scaler scaler_;
  std::unique_ptr<distributed::Reducer> reducer_;  // with data parallelism
  distributed::ReduceStats reduced_;               // the last step's
  std::vector<double> losses_;
  std::int64_t skipped_ = 0;
  bool stop_after_step_ = false;  // an interrupt asked every rank to stop after this step

  distributed::DataParallel* dp() const { return s_.data_parallel.get(); }
  /// Rank 0 (or the only process) writes the run folder.
  bool writer() const { return distributed::writes_run_folder(dp()); }

  /// `steps`, or the steps of `epochs` passes over the source's scenes.
  std::int64_t total_steps() const {
    const std::int64_t epochs = t_.get<std::int64_t>("epochs");
    if (epochs <= 0) return t_.get<std::int64_t>("steps");
    const std::int64_t per_step = t_.get<std::int64_t>("batch_size") * (dp() ? dp()->world().size : 1);
    const std::int64_t scenes = source_.call([](DataSource& d) { return d.size(); });
    return std::max<std::int64_t>(1, (epochs * scenes + per_step - 1) / per_step);
  }

  /// Gradients and losses averaged over ranks, as one process with every rank's batch.
  /// With whether to stop after this step: an interrupt on any rank stops
  /// every rank after the same step.
  void synchronize(runtime::StepResult& result) {
    stop_after_step_ = interrupt_signal() != 0;
    if (!dp()) return;
    reduced_ = reducer_->finish();
    std::vector<double> values;
    for (const auto& [name, value] : result.losses) values.push_back(value);
    values.push_back(stop_after_step_ ? 1.0 : 0.0);
    values = dp()->average(values);
    stop_after_step_ = values.back() > 0;
    std::size_t k = 0;
    for (auto& [name, value] : result.losses) value = values[k++];
  }

  Checkpoint resume(const LocatedCheckpoint& where) {
    Checkpoint ck = read_checkpoint(where);
    for (const auto& why : ck.passed_over) log_.warn("not resuming from it: {}", why);
    load_state_dict(instance_->module(), ck.model, true, (ck.dir / "model.safetensors").string());
    scaler_.scale = ck.state.loss_scale;
    scaler_.growth_tracker = ck.state.scale_growth_tracker;
    for (const auto& [name, tensor] : ck.optimizer) {
      if (name == "__rng__.cpu") {
        at::Generator generator = at::detail::getDefaultCPUGenerator();
        generator.set_state(tensor);
      }
    }
    log_.info("resuming from {} at step {}", ck.dir.string(), ck.state.step);
    return ck;
  }

  void make_optimizers(const std::optional<Checkpoint>& resumed) {
    optimizer_ = create<Optimizer>(s_, "optim");
    const auto by_device = parameters_by_device(*instance_, s_.plan.plan);
    for (const auto& [device, params] : by_device) trainable_.insert(trainable_.end(), params.begin(), params.end());
    states_.emplace(*executor_, by_device, [this](std::vector<NamedParameter> params) {
      return optimizer_.call([&](Optimizer& o) { return o.create(std::move(params)); });
    });
    if (resumed) states_->load_state(resumed->optimizer);
    if (trainable_.empty()) throw InputError("nothing to train: every parameter is frozen ([train] frozen)");
  }

  runtime::StepResult forward_backward(const TensorMap& batch) {
    const LossOptions losses = loss_options(t_);
    const int64_t B = batch.at("images").size(0);
    runtime::StepResult total;
    for (const TensorMap& chunk : runtime::split_batch(batch, int(t_.get<std::int64_t>("accum_steps")))) {
      const double share = double(chunk.at("images").size(0)) / double(B);
      const double scale = scaler_.on ? scaler_.scale : 1.0;
      auto result = executor_->step(chunk, [&](const TensorMap& p, const TensorMap& b, FrameGroup* frames) {
        TensorMap terms = vggt_losses(p, b, losses, Across(frames));
        terms["loss"] = terms["loss"] * (share * scale);
        return terms;
      });
      for (auto& [name, value] : result.losses) total.losses[name] += name == "loss" ? value / scale : value * share;
      total.seconds += result.seconds;
      total.devices = result.devices;
      total.actions = result.actions;
    }
    return total;
  }

  /// DDP's find_unused_parameters=false contract, for every run: each
  /// trainable parameter has a gradient after every step, and on a run's
  /// first step not an all-zero one (later, training itself can zero one:
  /// a unit whose activations all went dead).
  void check_gradients(std::int64_t step, bool first) const {
    if (t_.get<bool>("unused_parameters")) return;
    std::vector<std::string> missing;
    std::string first_got;
    torch::NoGradGuard no_grad;
    for (const auto& p : trainable_) {
      const auto& g = p.tensor.grad();
      if (g.defined() && (!first || g.ne(0).any().item<bool>())) continue;
      if (missing.empty()) first_got = g.defined() ? "an all-zero gradient" : "no gradient";
      missing.push_back(p.name);
    }
    if (missing.empty()) return;
    std::string others = missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "";
    throw Error("step " + std::to_string(step) + ": trainable parameter '" + missing.front() + "'" + others + " got " +
                first_got +
                ". Its output does not reach the loss (a head whose loss weight is 0, a unit the model skipped) "
                "or the model dropped its gradient. Freeze what should not train with [train] frozen, or set "
                "[train] unused_parameters = true if this is expected");
  }

  /// Unscales fp16 gradients; false when any is inf or NaN.
  bool unscale() {
    bool finite = true;
    torch::NoGradGuard no_grad;
    for (auto& p : trainable_) {
      if (!p.tensor.grad().defined()) continue;
      if (scaler_.on) p.tensor.mutable_grad().div_(scaler_.scale);
      if (scaler_.on) finite = finite && torch::isfinite(p.tensor.grad()).all().item<bool>();
    }
    return finite;
  }

  void zero_grad() {
    for (auto& p : trainable_) p.tensor.mutable_grad() = torch::Tensor();
  }

  TrainSummary loop(train::BatchLoader& loader, std::int64_t first) {
    const std::int64_t steps = total_steps();
    const std::int64_t log_every = t_.get<std::int64_t>("log_every");
    const std::int64_t eval_every = t_.get<std::int64_t>("eval_every");
    const std::int64_t checkpoint_every = t_.get<std::int64_t>("checkpoint_every");
    MetricsLog metrics;
    if (writer()) metrics = MetricsLog(s_.run_dir, first, s_.config->core("output").get<bool>("tensorboard"), log_);
    count_logged_steps(metrics.earlier());  // the summary covers the run
    const std::size_t logged_before = losses_.size();
    const int ranks = dp() ? dp()->world().size : 1;
    TrainSummary summary;
    auto start = Clock::now();
    runtime::StepResult last;
    double samples = 0;
    for (std::int64_t step = first; step < steps; ++step) {
      TensorMap batch = loader.next();
      zero_grad();
      if (dp() && dp()->settings().broadcast_buffers) dp()->broadcast_buffers(instance_->module());
      if (reducer_) reducer_->start_step(batch.at("images").size(0));  // scenes bound the micro-batches
      last = forward_backward(batch);
      synchronize(last);
      check_gradients(step + 1, step == first);
      bool finite = unscale();
      PolicyDecision decision;
      if (policy_) decision = policy_->call([&](GradientPolicy& p) { return p.apply(trainable_); });
      if (!finite && !decision.skip) {
        decision.skip = true;
        decision.reason = "inf or NaN gradient at loss scale " + std::to_string(scaler_.scale);
      }
      const double loss = last.losses["loss"];
      if (!std::isfinite(loss) && !decision.skip) {
        summary.stopped = "step " + std::to_string(step + 1) + ": the loss is " + std::to_string(loss) +
                          "; training stopped before the update, the parameters are those of the step before. "
                          "Lower [optim] lr, or set [gradient] plugin = \"skip-nonfinite\" to skip such steps";
      }
      scaler_.update(finite);
      const double lr = optimizer_.call([&](Optimizer& o) { return o.learning_rate(double(step) / double(steps)); });
      if (decision.skip) {
        ++skipped_;
        log_.warn("step {} skipped: {}", step + 1, decision.reason);
      } else if (summary.stopped.empty()) {
        states_->step(lr);
      }
      const int64_t B = batch.at("images").size(0) * ranks;
      samples += double(B);
      losses_.push_back(loss);
      nlohmann::json line = {{"step", step + 1},        {"loss", loss},
                             {"lr", lr},                {"step_seconds", last.seconds},
                             {"samples_per_second", last.seconds > 0 ? double(B) / last.seconds : 0.0},
                             {"batch", B},              {"frames", batch.at("images").size(1)},
                             {"skipped", decision.skip}, {"ranks", ranks}, {"devices", device_json(last)}};
      for (const auto& [name, value] : last.losses) {
        if (name != "loss") line["losses"][name] = value;
      }
      for (const auto& [name, value] : decision.norms) line["grad_norms"][name] = value;
      if (dp()) line["allreduce"] = reduce_json(reduced_);
      if (!std::isfinite(loss)) line["nonfinite"] = true;  // JSON writes the value as null
      metrics.write(line);
      if (!summary.stopped.empty() || stop_after_step_) break;
      report_progress(step + 1, first, steps, loss, start, log_every);
      if (eval_every > 0 && (step + 1) % eval_every == 0 && step + 1 < steps) evaluate(step + 1, metrics);
      if (checkpoint_every > 0 && (step + 1) % checkpoint_every == 0 && step + 1 < steps) save(step + 1, loader.position());
    }
    if (s_.progress_bar && writer()) std::fputs("\n", stderr);
    summary.steps = first + std::int64_t(losses_.size() - logged_before);
    summary.skipped = skipped_;
    summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    summary.samples_per_second = summary.seconds > 0 ? samples / summary.seconds : 0;
    fill_loss_summary(summary);
    write_timeline(last);
    if (!summary.stopped.empty()) {
      log_.error("{}", summary.stopped);
      return summary;
    }
    if (stop_after_step_ && summary.steps < steps) {  // after the last step the run finishes as usual
      stop_interrupted(summary, steps, loader.position());
      return summary;
    }
    summary.final_eval = evaluate(steps, metrics);
    if (dp()) {
      dp()->check_replicas(trainable_);
      log_.info("replicas identical on all {} ranks after {} steps", ranks, steps);
    }
    summary.checkpoint = save(steps, loader.position());
    return summary;
  }

  /// Saves the state of a run interrupted after its last step and says how to continue it.
  void stop_interrupted(TrainSummary& summary, std::int64_t steps, std::int64_t data_position) {
    summary.interrupted = interrupt_signal() != 0 ? interrupt_signal() : SIGTERM;  // another rank's, if not ours
    summary.checkpoint = save(summary.steps, data_position);
    const std::string again = dp() ? "vggt-lab launch -n " + std::to_string(dp()->world().size) : "vggt-lab run";
    summary.stopped = std::string(summary.interrupted == SIGINT ? "interrupted (SIGINT)" : "stopped by SIGTERM") +
                      " after step " + std::to_string(summary.steps) + " of " + std::to_string(steps) +
                      "; continue with `" + again + " --resume " + s_.run_dir.string() + "`";
    log_.log(writer() ? spdlog::level::warn : spdlog::level::info, "{}", summary.stopped);  // once on the terminal
  }

  /// The losses and skipped steps of a resumed run's steps before this
  /// process, from the metrics it kept.
  void count_logged_steps(const std::vector<nlohmann::json>& lines) {
    for (const auto& line : lines) {
      if (!line.contains("devices")) continue;  // evaluations
      losses_.push_back(line["loss"].is_number() ? line["loss"].get<double>() : std::nan(""));
      if (line.value("skipped", false)) ++skipped_;
    }
  }

  void fill_loss_summary(TrainSummary& summary) const {
    const std::size_t n = losses_.size(), fifth = std::max<std::size_t>(1, n / 5);
    if (n == 0) return;
    auto mean = [&](std::size_t begin, std::size_t end) {
      return std::accumulate(losses_.begin() + begin, losses_.begin() + end, 0.0) / double(end - begin);
    };
    summary.first_fifth_loss = mean(0, std::min(fifth, n));
    summary.last_fifth_loss = mean(n - std::min(fifth, n), n);
  }

  /// The bar or a log line at `step`; times per step count the steps since `first`, where this process began.
  void report_progress(std::int64_t step, std::int64_t first, std::int64_t steps, double loss, Clock::time_point start,
                       std::int64_t log_every) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double per_step = elapsed / double(step - first), remaining = per_step * double(steps - step);
    if (s_.progress_bar && writer()) {
      int filled = int(30.0 * double(step) / double(steps));
      std::fprintf(stderr, "\r[%s%s] %lld/%lld  loss %.4f  eta %s ", std::string(filled, '#').c_str(),
                   std::string(30 - filled, '.').c_str(), static_cast<long long>(step), static_cast<long long>(steps),
                   loss, eta(remaining).c_str());
      std::fflush(stderr);
    } else if (step % log_every == 0 || step == steps) {
      log_.info("step {}/{}  loss {:.4f}  {:.2f} s/step  eta {}", step, steps, loss, per_step, eta(remaining));
    }
  }

  std::map<std::string, double> evaluate(std::int64_t step, MetricsLog& metrics) {
    const std::int64_t scenes = t_.get<std::int64_t>("eval_scenes");
    if (scenes <= 0 || !writer()) return {};
    LoaderOptions o = loader_options(t_, seed_ + 1000003);  // held-out: another stream of scenes
    o.images_per_step = o.max_frames;
    o.min_frames = o.max_frames;
    o.color_jitter = o.grayscale = o.blur = 0;
    std::map<std::string, double> sum;
    instance_->module().eval();
    for (std::int64_t k = 0; k < scenes; ++k) {
      TensorMap batch = make_batch(*source_.object, o, k);
      auto result = executor_->predict(batch);
      for (const auto& [name, value] : train::evaluate(result.predictions, batch)) sum[name] += value / double(scenes);
    }
    instance_->module().train();
    metrics.write({{"step", step}, {"eval", sum}});
    std::string text;
    for (const auto& [name, value] : sum) text += " " + name + " " + std::to_string(value);
    log_.info("eval at step {}:{}", step, text);
    return sum;
  }

  std::filesystem::path save(std::int64_t step, std::int64_t data_position) {
    if (!writer()) return {};
    NamedTensors optimizer = states_->state();
    optimizer.emplace_back("__rng__.cpu", at::detail::getDefaultCPUGenerator().get_state());
    const NamedTensors model = state_dict(instance_->module());
    TrainingState state{step, data_position, scaler_.scale, scaler_.growth_tracker, all_finite(model)};
    if (!state.finite) log_.warn("step {}: the parameters are not finite; older checkpoints stay", step);
    auto dir = save_checkpoint(s_.run_dir, model, optimizer, state, plan_json(s_.plan),
                               int(t_.get<std::int64_t>("keep_checkpoints")));
    log_.info("checkpoint {}", dir.string());
    return dir;
  }

  void write_timeline(const runtime::StepResult& r) const {
    if (!writer()) return;
    nlohmann::ordered_json out = {{"step_seconds", r.seconds}, {"actions", actions_json(r.actions)}};
    write_file_atomic(s_.run_dir / "timeline.json", out.dump(1) + "\n");
  }
};

/// [train] fused_attention. LibTorch chooses attention kernels process-wide:
/// off leaves only the math kernel, which keeps the probabilities for backward.
void use_fused_attention(bool on) {
  auto& context = at::globalContext();
  context.setSDPUseFlash(on);
  context.setSDPUseMemEfficient(on);
  context.setSDPUseCuDNN(on);
}

}  // namespace

std::shared_ptr<ModelInstance> build_model(const PluginObject<Model>& model, const Options& train) {
  use_fused_attention(resolve_fused_attention(train));
  auto raw = model.call([](Model& m) { return m.build(); });
  // The instance keeps the model (and so its plugin library) alive.
  auto owner = model.object;
  std::shared_ptr<ModelInstance> instance(raw.get(), [raw, owner](ModelInstance*) mutable {
    raw.reset();
    owner.reset();
  });
  const Checkpointing checkpointing = model.call([&](Model& m) { return resolve_checkpointing(train, m); });
  instance->set_checkpointing(checkpointing);
  const auto& frozen = train.get<std::vector<std::string>>("frozen");
  for (auto& item : instance->module().named_parameters()) {
    bool match = std::any_of(frozen.begin(), frozen.end(), [&](const auto& g) { return glob_match(g, item.key()); });
    if (match) item.value().requires_grad_(false);
  }
  return instance;
}

TrainSummary train(const TrainerSetup& setup) { return Run(setup).go(); }

std::optional<torch::ScalarType> autocast_of(const std::string& precision) {
  if (precision == "bf16") return torch::kBFloat16;
  if (precision == "fp16") return torch::kHalf;
  return std::nullopt;
}

std::map<int, std::vector<NamedParameter>> parameters_by_device(ModelInstance& instance, const Plan& plan) {
  auto params = instance.module().named_parameters();
  std::map<int, std::vector<NamedParameter>> out;
  for (const Stage& stage : plan.stages) {
    for (const auto& unit : stage.units) {
      for (const auto& name : instance.unit_tensors(unit)) {
        auto* p = params.find(name);
        if (p && p->requires_grad()) out[stage.device].push_back({name, *p});
      }
    }
  }
  return out;
}

}  // namespace vggt_lab::train
