#include "bench/bench.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <optional>

#include "bench/op_profile.hpp"
#include "experiment/experiment.hpp"
#include "host/child.hpp"
#include "runtime/executor.hpp"
#include "runtime/memory_meter.hpp"
#include "train/device_optimizers.hpp"
#include "train/loader.hpp"
#include "train/losses.hpp"
#include "train/trainer.hpp"
#include "vggt_lab/compat.hpp"
#include "vggt_lab/data.hpp"
#include "vggt_lab/optim.hpp"

namespace vggt_lab::bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

Experiment open(const GlobalOptions& global, const Workload& args, const std::vector<std::string>& extra) {
  std::vector<std::string> overrides = args.overrides;
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  GlobalOptions quiet = global;
  quiet.quiet = true;
  return open_experiment(quiet, args.file, overrides);
}

/// What --set gives `key` ("table.key"), the last if several.
std::optional<std::string> user_setting(const Workload& args, const std::string& key) {
  std::optional<std::string> out;
  for (const auto& o : args.overrides) {
    if (o.rfind(key + "=", 0) == 0) out = o.substr(key.size() + 1);
  }
  return out;
}

/// The workload without the --set settings of one table (those a benchmark's
/// own layout there would not take).
Workload without_table(Workload args, const std::string& table) {
  args.overrides.erase(std::remove_if(args.overrides.begin(), args.overrides.end(),
                                      [&](const std::string& o) { return o.rfind(table + ".", 0) == 0; }),
                       args.overrides.end());
  return args;
}

struct Prepared {
  PlanReport plan;
  std::shared_ptr<ModelInstance> instance;
  std::unique_ptr<runtime::Executor> executor;
  std::vector<TensorMap> batches;
};

/// The plan, model and a few fixed batches of an experiment.
Prepared prepare(const Experiment& e, int batches, runtime::RuntimeOptions options = {}) {
  Prepared p;
  p.plan = plan_experiment(e, {}, {true});
  const Options& train = e.config.core("train");
  torch::manual_seed(0);
  auto model = create_model(e);
  p.instance = train::build_model(model, train);
  options.replica = [&] { return train::build_model(model, train); };
  p.executor = std::make_unique<runtime::Executor>(p.instance, p.plan.graph, p.plan.plan, p.plan.topology,
                                                   std::make_shared<runtime::InProcessTransport>(p.plan.topology), options);
  auto source = create_plugin<DataSource>(e.config, "data", e.registry(), e.context());
  const train::LoaderOptions o = train::planned_loader_options(train);
  for (int i = 0; i < batches; ++i) p.batches.push_back(train::make_batch(*source.object, o, i));
  return p;
}

runtime::LossFn losses() {
  return [](const TensorMap& pred, const TensorMap& b, FrameGroup* frames) {
    return train::vggt_losses(pred, b, {}, train::Across(frames));
  };
}

/// Peak per device over `steps` steps (after one warm-up), and the mean step time.
struct Measured {
  std::vector<std::int64_t> peaks;  // per device, the largest over the steps
  double seconds = 0;               // a step, the mean
  std::vector<double> bubbles;      // per device, the mean fraction of a step it did not compute
};

Measured measure(Prepared& p, int steps) {
  p.executor->step(p.batches[0], losses());
  const std::size_t devices = p.plan.topology.devices.size();
  Measured m{std::vector<std::int64_t>(devices, 0), 0.0, std::vector<double>(devices, 0.0)};
  for (int s = 0; s < steps; ++s) {
    auto r = p.executor->step(p.batches[s % p.batches.size()], losses());
    m.seconds += r.seconds / steps;
    for (std::size_t d = 0; d < devices; ++d) {
      m.peaks[d] = std::max(m.peaks[d], r.devices[d].peak_bytes);
      m.bubbles[d] += std::max(0.0, 1.0 - r.devices[d].busy_seconds / r.seconds) / steps;
    }
  }
  return m;
}

/// AdamW with its default options, the optimizer every benchmark steps with.
PluginObject<Optimizer> default_adamw(const Experiment& e) {
  Options defaults;
  for (const auto& spec : e.registry().get(Kind::optimizer, "adamw").info.schema.specs()) {
    defaults.set(spec.key, *spec.default_value);
  }
  return e.registry().create<Optimizer>("adamw", defaults, e.session.host->context());
}

struct Training {
  std::vector<std::int64_t> peaks;  // per device, the largest over the steps
  double seconds = 0;               // forward and backward, the mean
  std::vector<double> wall;         // each step's wall time, AdamW included
  std::vector<double> optimizer;    // each step's AdamW time
};

/// `steps` training steps as the trainer runs them, after one warm-up:
/// gradients cleared, forward and backward, AdamW on each device (its state
/// allocated there). `ops`, when given, records the steps after the warm-up.
Training train_steps(const Experiment& e, Prepared& p, int steps, OpProfile* ops = nullptr) {
  auto optimizer = default_adamw(e);
  train::DeviceOptimizers states(*p.executor, train::parameters_by_device(*p.instance, p.plan.plan),
                                 [&](std::vector<NamedParameter> params) { return optimizer.object->create(params); });
  Training out;
  out.peaks.assign(p.plan.topology.devices.size(), 0);
  for (int s = 0; s <= steps; ++s) {
    if (s == 1 && ops) ops->start();
    const auto start = Clock::now();
    runtime::clear_gradients(p.instance->module().parameters());
    auto r = p.executor->step(p.batches[s % p.batches.size()], losses());
    const auto stepped = Clock::now();
    states.step(1e-5);
    if (s == 0) continue;
    out.optimizer.push_back(since(stepped));
    out.wall.push_back(since(start));
    out.seconds += r.seconds / std::max(1, steps);
    for (std::size_t d = 0; d < out.peaks.size(); ++d) out.peaks[d] = std::max(out.peaks[d], r.devices[d].peak_bytes);
  }
  if (ops) ops->stop();
  return out;
}

/// The operators with the most self time in `steps` steps, each with its
/// share of their wall time, and the share of copies (copy_, cat, stack).
json operator_table(const Experiment& e, Prepared& p, int steps, std::size_t top) {
  OpProfile ops;
  const Training run = train_steps(e, p, steps, &ops);
  const double wall = std::accumulate(run.wall.begin(), run.wall.end(), 0.0);
  json rows = json::array();
  double copies = 0, product_seconds = 0, product_flops = 0;
  for (const OpTime& op : ops.table()) {
    if (op.name == "aten::copy_" || op.name == "aten::cat" || op.name == "aten::stack") copies += op.self_seconds;
    if (op.flops > 0) {
      product_seconds += op.self_seconds;
      product_flops += op.flops;
    }
    if (rows.size() < top) {
      rows.push_back({{"op", op.name}, {"calls_per_step", op.calls / steps}, {"self_seconds_per_step", op.self_seconds / steps},
                      {"share", op.self_seconds / wall}});
    }
  }
  json products = json::array();  // where the products lose rate
  for (const OpTime& op : ops.products()) {
    if (products.size() == top) break;
    products.push_back({{"product", op.name}, {"calls_per_step", op.calls / steps},
                        {"self_seconds_per_step", op.self_seconds / steps}, {"share", op.self_seconds / wall},
                        {"gflops", op.self_seconds > 0 ? op.flops / op.self_seconds / 1e9 : 0.0}});
  }
  return {{"ops", rows},
          {"products", products},
          {"copy_share", copies / wall},
          {"products_share", product_seconds / wall},
          {"products_gflop_per_step", product_flops / steps / 1e9},
          {"products_gflops", product_seconds > 0 ? product_flops / product_seconds / 1e9 : 0.0}};
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

/// GFLOP/s of a 1024x1024 fp32 matrix product on the CPU at the calling
/// thread's intra-op threads: the fastest of 10.
double matmul_gflops() {
  const auto a = torch::rand({1024, 1024}), b = torch::rand({1024, 1024});
  torch::mm(a, b);
  double fastest = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 10; ++i) {
    const auto start = Clock::now();
    torch::mm(a, b);
    fastest = std::min(fastest, since(start));
  }
  return 2.0 * 1024 * 1024 * 1024 / fastest / 1e9;
}

/// Floating-point operations of a training step by the units' counts: each
/// forward, backward twice its forward, and what checkpointed units recompute.
double step_flops(const PlanReport& plan) {
  double flops = 0;
  for (const Unit& unit : plan.graph.units) {
    flops += 3 * unit.cost.forward_flops;
    if (plan.memory.checkpointing.on(unit.name)) flops += unit.cost.recompute_flops;
  }
  return flops;
}

double worst_error(const std::vector<std::int64_t>& predicted, const std::vector<std::int64_t>& measured) {
  double worst = 0;
  for (std::size_t d = 0; d < measured.size(); ++d) {
    if (measured[d] > 0) worst = std::max(worst, std::abs(double(predicted[d]) - double(measured[d])) / double(measured[d]));
  }
  return worst;
}

}  // namespace

json placement(const GlobalOptions& global, const Workload& args) {
  json out = json::array();
  const std::vector<std::pair<std::string, std::vector<std::string>>> strategies = {
      {"single", {"devices.count=1", "placement.plugin=single"}},
      {"per-head", {"devices.count=4", "placement.plugin=per-head", "placement.camera_head=1", "placement.depth_head=2",
                    "placement.point_head=3"}},
      {"balanced-memory", {"devices.count=4", "placement.plugin=balanced-memory"}},
      {"pipeline", {"devices.count=4", "placement.plugin=pipeline", "placement.micro_batches=4", "placement.balance=memory"}}};
  for (auto [name, overrides] : strategies) {
    // Plans from measured unit costs (profiled once, then cached); the
    // analytic estimates are judged on the same plan beside them.
    overrides.push_back("costs.source=measured");
    Experiment e = open(global, args, overrides);
    Prepared p = prepare(e, args.steps);
    const Training run = train_steps(e, p, args.steps);
    const auto& peak = run.peaks;
    auto predicted = predicted_totals(p.plan.graph, p.plan.topology, p.plan.plan, p.plan.memory);
    ModelGraph analytic = create_model(e).call([&](Model& m) { return m.graph(p.plan.shape); });
    auto estimated = predicted_totals(analytic, p.plan.topology, p.plan.plan, p.plan.memory);
    double max = 0, sum = 0;
    json devices = json::array();
    for (std::size_t d = 0; d < peak.size(); ++d) {
      max = std::max(max, double(peak[d]));
      sum += double(peak[d]);
      devices.push_back({{"measured_peak_bytes", peak[d]}, {"predicted_peak_bytes", predicted[d]},
                         {"analytic_peak_bytes", estimated[d]}});
    }
    const double balance = max / (sum / double(peak.size()));
    out.push_back({{"strategy", name}, {"devices", devices}, {"max_over_mean", balance},
                   {"worst_prediction_error", worst_error(predicted, peak)},
                   {"worst_analytic_error", worst_error(estimated, peak)},
                   {"measured_step_seconds", run.seconds}, {"predicted_step_seconds", p.plan.timeline.makespan}});
    e.session.logger->warn("{}: max/mean {:.3f}, worst prediction error {:.1f}% (analytic costs: {:.1f}%)", name, balance,
                           100 * worst_error(predicted, peak), 100 * worst_error(estimated, peak));
  }
  return out;
}

json pipeline(const GlobalOptions& global, const Workload& args) {
  // One core per logical device: the single device gets one, the two pipeline
  // stages one each (2 cores in all).
  // 8 micro-batches, 1F1B, balanced by time, unless --set says otherwise.
  const int p = 2;
  runtime::RuntimeOptions one_core;
  one_core.intra_op_threads = 1;
  const Workload workload = without_table(args, "placement");  // the layouts' settings are set below
  Experiment single_e = open(global, workload, {"devices.count=1", "placement.plugin=single"});
  Prepared single = prepare(single_e, args.steps, one_core);
  Experiment pipe_e = open(global, workload,
                           {"devices.count=2", "placement.plugin=pipeline",
                            "placement.micro_batches=" + user_setting(args, "placement.micro_batches").value_or("8"),
                            "placement.schedule=" + user_setting(args, "placement.schedule").value_or("1f1b"),
                            "placement.balance=" + user_setting(args, "placement.balance").value_or("time")});
  Prepared pipe = prepare(pipe_e, args.steps, one_core);
  const int m = std::min<int>(pipe.plan.plan.micro_batches, int(pipe.plan.shape.batch));  // as the runtime splits
  const Measured one = measure(single, args.steps), two = measure(pipe, args.steps);
  json planned = json::array();  // the schedule simulated with the plan's unit times: balance included
  for (int d = 0; d < p; ++d) planned.push_back(pipe.plan.timeline.bubble(d));
  // The stage computing the most waits only for the schedule; the others
  // also for it (the imbalance the split by whole units leaves).
  const double bottleneck = *std::min_element(two.bubbles.begin(), two.bubbles.end());
  return {{"single_step_seconds", one.seconds}, {"pipeline_step_seconds", two.seconds},
          {"throughput_ratio", one.seconds / two.seconds}, {"micro_batches", m}, {"stages", p},
          {"measured_bubble", two.bubbles}, {"bottleneck_stage_bubble", bottleneck}, {"predicted_bubble", planned},
          {"ideal_bubble", double(p - 1) / double(m + p - 1)}};
}

json frames(const GlobalOptions& global, const Workload& args) {
  runtime::RuntimeOptions one_core;  // one core per logical device, as bench pipeline
  one_core.intra_op_threads = 1;
  const std::string frames = user_setting(args, "train.frames").value_or("8");  // every scene this many
  const std::vector<std::string> scenes = {"train.frames=" + frames, "train.min_frames=" + frames};
  auto with = [&](std::vector<std::string> settings) {
    settings.insert(settings.end(), scenes.begin(), scenes.end());
    return settings;
  };
  Experiment single_e = open(global, args, with({"devices.count=1", "placement.plugin=single"}));
  Prepared single = prepare(single_e, args.steps, one_core);
  Experiment sharded_e = open(global, args, with({"devices.count=2", "placement.plugin=frame-parallel"}));
  Prepared sharded = prepare(sharded_e, args.steps, one_core);
  const Measured one = measure(single, args.steps), two = measure(sharded, args.steps);
  return {{"single_step_seconds", one.seconds}, {"frame_parallel_step_seconds", two.seconds},
          {"throughput_ratio", one.seconds / two.seconds}, {"devices", 2},
          {"frames", single.plan.shape.frames}, {"single_peak_bytes", one.peaks},
          {"frame_parallel_peak_bytes", two.peaks}};
}

json data(const GlobalOptions& global, const Workload& args) {
  Experiment e = open(global, args, {});
  const Options& train = e.config.core("train");
  auto source = create_plugin<DataSource>(e.config, "data", e.registry(), e.context());
  json out = json::array();
  for (int workers : {1, 2}) {
    train::LoaderOptions o = train::planned_loader_options(train);
    o.workers = workers;
    o.prefetch = 4;
    train::BatchLoader loader(source.object, o);
    loader.next();  // warm-up
    const int batches = 4 * args.steps;
    auto start = Clock::now();
    for (int i = 0; i < batches; ++i) loader.next();
    double seconds = since(start);
    out.push_back({{"workers", workers}, {"batches_per_second", batches / seconds},
                   {"scenes_per_second", batches * train.get<std::int64_t>("batch_size") / seconds}});
  }
  return out;
}

json overhead(const GlobalOptions& global, const Workload& args) {
  Experiment e = open(global, args, {"devices.count=1", "placement.plugin=single"});
  Prepared p = prepare(e, args.steps);
  std::vector<NamedParameter> params;
  for (auto& item : p.instance->module().named_parameters()) params.push_back({item.key(), item.value()});
  auto optimizer = default_adamw(e);
  auto state = optimizer.object->create(params);
  auto zero = [&] {
    for (auto& param : params) param.tensor.mutable_grad() = torch::Tensor();
  };
  auto ours = [&](const TensorMap& batch) {
    zero();
    p.executor->step(batch, losses());
    state->step(1e-5);
  };
  auto handwritten = [&](const TensorMap& batch) {
    zero();
    auto predictions = p.instance->forward(batch);
    train::vggt_losses(predictions, batch, {}).at("loss").backward();
    state->step(1e-5);
  };
  ours(p.batches[0]);
  handwritten(p.batches[0]);
  double t_ours = 0, t_hand = 0;
  for (int round = 0; round < args.steps; ++round) {  // interleaved, so drift hits both
    for (const auto& batch : p.batches) {
      auto start = Clock::now();
      handwritten(batch);
      t_hand += since(start);
      start = Clock::now();
      ours(batch);
      t_ours += since(start);
    }
  }
  return {{"vggt_lab_seconds", t_ours}, {"handwritten_seconds", t_hand}, {"overhead", t_ours / t_hand - 1.0}};
}

namespace {

/// `vggt-lab <command...> FILE --out DIR` as a child, on `cpus` (empty: unbound).
void run_child(const std::vector<std::string>& command, const Workload& args, const std::filesystem::path& out,
               std::vector<std::string> extra = {}, std::vector<int> cpus = {}) {
  std::vector<std::string> argv{"/proc/self/exe", "-q"};
  argv.insert(argv.end(), command.begin(), command.end());
  argv.insert(argv.end(), {args.file.string(), "--out", out.string(), "--set",
                           "train.steps=" + std::to_string(10 * args.steps), "--set", "train.eval_scenes=0"});
  for (const auto& o : args.overrides) extra.push_back(o);
  for (const auto& o : extra) argv.insert(argv.end(), {"--set", o});
  std::map<std::string, std::string> environment;
  if (!cpus.empty()) environment["VGGT_LAB_CORES"] = std::to_string(cpus.size());
  if (wait_child(start_child({argv, environment, std::nullopt, std::move(cpus)})).status != 0) {
    throw Error("benchmark run failed: vggt-lab " + command.front() + " " + args.file.string() + " --out " +
                out.string());
  }
}

/// A run's summary.json.
json summary_of(const std::filesystem::path& run) {
  std::ifstream in(run / "summary.json");
  return json::parse(in);
}

}  // namespace

json step(const GlobalOptions& global, const Workload& args) {
  Experiment e = open(global, args, {"devices.count=1", "placement.plugin=single"});
  Prepared p = prepare(e, 2);
  const Training run = train_steps(e, p, std::max(args.steps, 5));
  const runtime::WorkerShare one_worker(1);  // the threads the single device's worker computes with
  const double gflops = matmul_gflops(), flops = step_flops(p.plan), seconds = median(run.wall);
  const double floor = flops / (gflops * 1e9);
  const json where = operator_table(e, p, 2, 15);
  return {{"threads", at::get_num_threads()},
          {"top_operators", where["ops"]},
          {"top_products", where["products"]},
          {"copy_share", where["copy_share"]},
          {"products_share", where["products_share"]},
          {"products_gflop_per_step", where["products_gflop_per_step"]},
          {"products_gflops", where["products_gflops"]},
          {"step_seconds_median", seconds},
          {"optimizer_seconds_median", median(run.optimizer)},
          {"step_gflop", flops / 1e9},
          {"achieved_gflops", flops / seconds / 1e9},
          {"matmul_1024_gflops", gflops},
          {"floor_seconds", floor},
          {"ratio_to_floor", seconds / floor}};
}

json data_parallel(const GlobalOptions&, const Workload& args) {
  std::string pattern = (std::filesystem::temp_directory_path() / "vggt-lab-bench-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw Error("cannot create a temporary folder under " + pattern);
  const std::filesystem::path dir = pattern;
  // The one rank runs on the cores `launch` binds each of the two to: the speed-up is the ranks'.
  const std::vector<int> cpus = allowed_cpus();
  const std::vector<int> half(cpus.begin(), cpus.begin() + std::ptrdiff_t(std::max<std::size_t>(1, cpus.size() / 2)));
  // The one rank runs before and after the two and counts at its faster: on
  // a shared machine a slow minute must not flatter the speed-up.
  run_child({"run"}, args, dir / "one", {}, half);
  run_child({"launch", "-n", "2"}, args, dir / "two");
  run_child({"launch", "-n", "2"}, args, dir / "after", {"distributed.overlap=false"});
  run_child({"run"}, args, dir / "one-again", {}, half);
  const json two = summary_of(dir / "two"), after = summary_of(dir / "after");
  const double one = std::max(summary_of(dir / "one").at("samples_per_second").get<double>(),
                              summary_of(dir / "one-again").at("samples_per_second").get<double>());
  const double twice = two.at("samples_per_second");
  json out = {{"cores_per_rank", half.size()},
              {"one_rank_scenes_per_second", one},
              {"two_ranks_scenes_per_second", twice},
              {"speedup", twice / one},
              {"scaling_efficiency", twice / (2.0 * one)},
              {"allreduce", two.value("allreduce", json())},
              {"two_ranks_reducing_after_backward_scenes_per_second", after.at("samples_per_second")},
              {"allreduce_after_backward", after.value("allreduce", json())}};
  std::filesystem::remove_all(dir);
  return out;
}

namespace {

bool out_of_memory(const std::exception& e) { return std::string(e.what()).find("out of memory") != std::string::npos; }

/// Adds a row and prints it at once: a benchmark stopped early (gpu-check.sh
/// bounds it in time) keeps in its log what it measured.
void add_row(json& rows, const Experiment& e, const std::string& section, json row) {
  e.session.logger->warn("{} {}", section, row.dump());
  rows.push_back(std::move(row));
}

/// The experiment as one GPU runs it, with `extra` settings.
Experiment on_gpu(const GlobalOptions& global, const Workload& args, std::vector<std::string> extra) {
  extra.insert(extra.end(), {"devices.physical=cuda", "devices.count=1", "placement.plugin=single",
                             "model.enable_track=false", "train.batch_size=1"});
  return open(global, args, extra);
}

/// sum of squares of every prediction: the step's time and memory without
/// data loading (single-device plans: the means are not split over frames).
runtime::LossFn square_loss() {
  return [](const TensorMap& predictions, const TensorMap&, FrameGroup*) {
    torch::Tensor total;
    for (const auto& [name, tensor] : predictions) {
      auto term = tensor.to(torch::kFloat).square().mean();
      total = total.defined() ? total + term : term;
    }
    return TensorMap{{"loss", total}};
  };
}

/// Aggregator forward (embed and every block) per frame count, until memory runs out.
json aggregator_rows(const GlobalOptions& global, const Workload& args) {
  Experiment e = on_gpu(global, args, {"model.preset=1b", "train.image_height=336", "train.image_width=518"});
  auto model = create_model(e);
  torch::manual_seed(0);
  auto instance = model.call([](Model& m) { return m.build(); });
  instance->module().to(torch::Device("cuda:0"));
  json rows = json::array();
  const std::vector<int> counts = {1, 1, 2, 4, 8, 10, 20, 50, 100, 200};  // the first run warms up
  for (std::size_t run = 0; run < counts.size(); ++run) {
    const int frames = counts[run];
    const InputShape shape{1, frames, 336, 518, 0};
    ModelGraph graph = model.call([&](Model& m) { return m.graph(shape); });
    TensorMap values{{"images", torch::rand({1, frames, 3, 336, 518}, torch::Device("cuda:0"))}};
    compat::cuda_synchronize(0);
    compat::cuda_reset_peak(0);
    auto start = Clock::now();
    try {
      torch::NoGradGuard no_grad;
      compat::AutocastOn autocast(c10::DeviceType::CUDA, torch::kBFloat16);
      for (const Unit& unit : graph.units) {
        if (unit.name != "embed" && unit.name.rfind("block.", 0) != 0) continue;
        TensorMap inputs;
        for (const Edge& edge : graph.edges) {
          if (edge.to == unit.name) inputs[edge.tensor] = values.at(edge.tensor);
        }
        for (auto& [name, tensor] : instance->run_unit(unit.name, inputs, shape)) values[name] = tensor;
      }
      compat::cuda_synchronize(0);
    } catch (const std::exception& error) {
      if (!out_of_memory(error)) throw;
      add_row(rows, e, "aggregator", {{"frames", frames}, {"status", "out of memory"}});
      break;
    }
    if (run == 0) continue;
    add_row(rows, e, "aggregator",
            {{"frames", frames}, {"seconds", since(start)}, {"peak_bytes", compat::cuda_peak_allocated(0)}});
  }
  return rows;
}

/// One training step (after a warm-up) per doubling frame count, until memory
/// runs out; one model instance serves every count.
json training_rows(const GlobalOptions& global, const Workload& args, const std::string& preset, bool checkpointing) {
  const std::vector<std::string> settings = {"model.preset=" + preset, "train.image_height=518", "train.image_width=518",
                                             std::string("train.checkpointing=") + (checkpointing ? "trunk" : "none")};
  const std::string section = "training " + preset + (checkpointing ? " checkpointing" : "");
  Experiment first = on_gpu(global, args, settings);
  torch::manual_seed(0);
  auto instance = train::build_model(create_model(first), first.config.core("train"));
  json rows = json::array();
  for (int frames = 2; frames <= 256; frames *= 2) {
    auto with_frames = settings;
    with_frames.push_back("train.frames=" + std::to_string(frames));
    Experiment e = on_gpu(global, args, with_frames);
    try {
      PlanReport plan = plan_experiment(e);
      runtime::Executor executor(instance, plan.graph, plan.plan, plan.topology,
                                 std::make_shared<runtime::InProcessTransport>(plan.topology));
      TensorMap batch{{"images", torch::rand({1, frames, 3, 518, 518})}};
      executor.step(batch, square_loss());
      runtime::clear_gradients(instance->module().parameters());
      auto r = executor.step(batch, square_loss());
      runtime::clear_gradients(instance->module().parameters());
      add_row(rows, e, section, {{"frames", frames}, {"step_seconds", r.seconds}, {"peak_bytes", r.devices[0].peak_bytes},
                                 {"predicted_peak_bytes", plan.predicted[0].total() - plan.predicted[0].optimizer}});
    } catch (const std::exception& error) {
      if (!out_of_memory(error)) throw;
      add_row(rows, e, section, {{"frames", frames}, {"status", "out of memory"}});
      break;
    }
  }
  return rows;
}

/// balanced-memory over 4 logical devices sharing GPU 0 (the small preset,
/// 8 frames at 518 px), planned from costs measured there: each logical
/// device's peak over AdamW training steps beside the plan's prediction.
json shared_gpu_rows(const GlobalOptions& global, const Workload& args) {
  Experiment e = open(global, args,
                      {"devices.physical=cuda", "devices.count=4", "placement.plugin=balanced-memory",
                       "costs.source=measured", "model.preset=small", "model.enable_track=false", "train.batch_size=2",
                       "train.frames=8", "train.image_height=518", "train.image_width=518"});
  Prepared p = prepare(e, args.steps);
  const Training run = train_steps(e, p, args.steps);
  const auto& peak = run.peaks;
  auto predicted = predicted_totals(p.plan.graph, p.plan.topology, p.plan.plan, p.plan.memory);
  json devices = json::array();
  for (std::size_t d = 0; d < peak.size(); ++d) {
    devices.push_back({{"physical", p.plan.topology.devices[d].physical}, {"measured_peak_bytes", peak[d]},
                       {"predicted_peak_bytes", predicted[d]}});
  }
  json result{{"counted_per_logical_device", runtime::cuda_counted_per_logical_device()},
              {"devices", devices},
              {"worst_prediction_error", worst_error(predicted, peak)},
              {"step_seconds", run.seconds}};
  e.session.logger->warn("balanced-memory on 4 logical devices {}", result.dump());
  return result;
}

}  // namespace

json gpu(const GlobalOptions& global, const Workload& args) {
  if (compat::cuda_device_count() == 0) throw InputError("bench gpu needs a CUDA device and a CUDA build of LibTorch");
  // Cheapest first: gpu-check.sh bounds the whole benchmark in time.
  json out{{"balanced_memory_4_logical_small", shared_gpu_rows(global, args)}};
  out["aggregator_bf16_336x518"] = aggregator_rows(global, args);
  for (const std::string preset : {"small", "1b"}) {
    for (bool checkpointing : {false, true}) {
      out["training_" + preset + (checkpointing ? "_checkpointing" : "")] = training_rows(global, args, preset, checkpointing);
    }
  }
  return out;
}

}  // namespace vggt_lab::bench
