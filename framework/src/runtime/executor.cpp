#include "runtime/executor.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "host/suggest.hpp"
#include "runtime/memory_meter.hpp"
#include "vggt_lab/compat.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/state_dict.hpp"

namespace vggt_lab::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Aborted {};

/// Tensors in flight between stages, keyed by (gradient?, tensor, stage, micro-batch):
/// the consumer stage for activations, the sending consumer for gradients.
class Mailbox {
 public:
  using Key = std::tuple<bool, std::string, int, int>;
  struct Item {
    torch::Tensor tensor;
    int from = 0;  // logical device
  };

  void put(const Key& key, Item item) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items_[key] = std::move(item);
    }
    ready_.notify_all();
  }

  /// Blocks until the item is there; adds the time spent waiting to `waited`.
  Item take(const Key& key, double& waited) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto start = Clock::now();
    ready_.wait(lock, [&] { return aborted_ || items_.count(key); });
    waited += seconds_since(start);
    if (aborted_) throw Aborted{};
    Item item = std::move(items_[key]);
    items_.erase(key);
    return item;
  }

  void abort() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      aborted_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::map<Key, Item> items_;
  bool aborted_ = false;
};

/// Where each stage's tensors come from and go to.
struct Routes {
  std::vector<std::vector<std::string>> model_inputs;                      // per stage
  std::vector<std::vector<std::pair<std::string, int>>> incoming;          // (tensor, producer)
  std::vector<std::vector<std::pair<std::string, std::vector<int>>>> outgoing;  // (tensor, consumers)
  std::map<std::string, std::vector<std::string>> unit_inputs;             // unit -> tensors
  std::set<std::string> edge_tensors;
};

Routes route(const ModelGraph& graph, const Plan& plan) {
  Routes r;
  const int stages = int(plan.stages.size());
  r.model_inputs.resize(stages);
  r.incoming.resize(stages);
  r.outgoing.resize(stages);
  const std::map<std::string, int> stage_of = unit_stages(plan);
  std::map<std::pair<int, std::string>, std::set<int>> consumers;  // (producer, tensor) -> stages
  std::set<std::pair<int, std::string>> seen_in;
  for (const Edge& e : graph.edges) {
    r.unit_inputs[e.to].push_back(e.tensor);
    r.edge_tensors.insert(e.tensor);
    int to = stage_of.at(e.to);
    auto from = stage_of.find(e.from);
    if (from == stage_of.end()) {  // a model input
      if (seen_in.emplace(to, e.tensor).second) r.model_inputs[to].push_back(e.tensor);
    } else if (from->second != to) {
      if (seen_in.emplace(to, e.tensor).second) r.incoming[to].emplace_back(e.tensor, from->second);
      consumers[{from->second, e.tensor}].insert(to);
    }
  }
  for (const auto& [key, set] : consumers) {
    r.outgoing[key.first].emplace_back(key.second, std::vector<int>(set.begin(), set.end()));
  }
  return r;
}

InputShape shape_of(const TensorMap& batch) {
  const auto& images = batch.at("images");
  auto query = batch.find("query");
  return {images.size(0), images.size(1), images.size(3), images.size(4),
          query == batch.end() ? 0 : query->second.size(1)};
}

}  // namespace

WorkerShare::WorkerShare(int workers) : previous_(at::get_num_threads()) {
  const int threads = worker_threads(process_cores(), workers);
  at::set_num_threads(threads);
}

WorkerShare::~WorkerShare() { at::set_num_threads(previous_); }

Transport::~Transport() = default;

InProcessTransport::InProcessTransport(const Topology& topology) {
  for (const auto& d : topology.devices) devices_.emplace_back(d.physical);
}

torch::Tensor InProcessTransport::receive(const torch::Tensor& tensor, int, int to) {
  // A copy even on the same physical device: the receiver owns its buffer.
  return tensor.to(devices_.at(to), /*non_blocking=*/false, /*copy=*/true);
}

std::vector<TensorMap> split_batch(const TensorMap& batch, int parts) {
  const int64_t B = batch.at("images").size(0);
  const int n = int(std::max<int64_t>(1, std::min<int64_t>(parts, B)));
  std::vector<TensorMap> out(n);
  for (const auto& [name, tensor] : batch) {
    auto pieces = tensor.chunk(n, 0);
    TORCH_CHECK(int(pieces.size()) == n, "batch tensor '", name, "' has ", tensor.size(0),
                " rows; every batch tensor needs the batch dimension first");
    for (int i = 0; i < n; ++i) out[i][name] = pieces[i];
  }
  return out;
}

/// The state of one step.
struct Executor::Impl {
  Executor& self;
  Routes routes;
  std::vector<TensorMap> micro;
  const LossFn* loss;
  bool training, keep;
  int64_t batch_size;
  Mailbox mailbox;
  std::mutex mutex;  // guards what follows
  std::map<std::string, double> losses;
  std::map<std::pair<int, int>, TensorMap> predictions;  // (mb, stage) -> on CPU
  std::vector<DeviceStats> stats;
  std::vector<TimedAction> actions;
  Clock::time_point started = Clock::now();
  std::string error;

  struct StageState {
    TensorMap leaves, outputs;
    torch::Tensor loss;
  };
  std::map<std::pair<int, int>, StageState> states;  // (stage, mb); each touched by one worker

  /// Seconds this worker thread has spent waiting for tensors in this step.
  static double& waiting() {
    thread_local double seconds = 0;
    return seconds;
  }

  Impl(Executor& e, const TensorMap& b, const LossFn* l, bool k)
      : self(e), routes(route(e.graph_, e.plan_)), loss(l), training(l != nullptr), keep(k),
        batch_size(b.at("images").size(0)) {
    micro = split_batch(b, e.plan_.micro_batches);
    stats.resize(e.topology_.devices.size());
  }

  StageState& state(int stage, int mb) {
    std::lock_guard<std::mutex> lock(mutex);
    return states[{stage, mb}];
  }

  void forward(int s, int mb, int device) {
    const auto& stage = self.plan_.stages[s];
    const torch::Device where = self.device_of(device);
    StageState& st = state(s, mb);
    TensorMap available, mb_batch;
    for (const auto& [name, tensor] : micro[mb]) mb_batch[name] = tensor.to(where);
    for (const auto& name : routes.model_inputs[s]) available[name] = mb_batch.at(name);
    for (const auto& [name, producer] : routes.incoming[s]) {
      auto item = mailbox.take({false, name, s, mb}, waiting());
      auto tensor = self.transport_->receive(item.tensor, item.from, device).detach();
      if (training && tensor.is_floating_point()) tensor.requires_grad_(true);
      count(item.from, device, tensor);
      available[name] = st.leaves[name] = tensor;
    }
    TensorMap predictions;
    const InputShape shape = shape_of(micro[mb]);
    for (const auto& unit : stage.units) {
      TensorMap inputs;
      for (const auto& name : routes.unit_inputs[unit]) inputs[name] = available.at(name);
      for (auto& [name, tensor] : self.model_->run_unit(unit, inputs, shape)) {
        available[name] = tensor;
        if (!routes.edge_tensors.count(name)) predictions[name] = tensor;
      }
    }
    for (const auto& [name, consumers] : routes.outgoing[s]) {
      st.outputs[name] = available.at(name);
      for (int c : consumers) mailbox.put({false, name, c, mb}, {available.at(name), device});
    }
    if (!predictions.empty()) finish_predictions(s, mb, st, predictions, mb_batch);
    if (!training) st = StageState{};
  }

  void finish_predictions(int s, int mb, StageState& st, const TensorMap& predictions,
                          const TensorMap& mb_batch) {
    if (keep) {
      TensorMap cpu;
      for (const auto& [name, tensor] : predictions) cpu[name] = tensor.detach().to(torch::kCPU);
      std::lock_guard<std::mutex> lock(mutex);
      predictions_of(mb, s) = std::move(cpu);
    }
    if (!loss) return;
    TensorMap terms = (*loss)(predictions, mb_batch);
    const double weight = double(micro[mb].at("images").size(0)) / double(batch_size);
    auto total = terms.find("loss");
    if (total != terms.end() && total->second.defined()) st.loss = total->second * weight;
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [name, value] : terms) {
      if (value.defined()) losses[name] += value.detach().item<double>() * weight;
    }
  }

  TensorMap& predictions_of(int mb, int s) { return predictions[{mb, s}]; }

  void backward(int s, int mb, int device) {
    StageState st;
    {
      std::lock_guard<std::mutex> lock(mutex);
      st = std::move(states[{s, mb}]);
      states.erase({s, mb});
    }
    std::vector<torch::Tensor> roots, grads;
    if (st.loss.defined() && st.loss.requires_grad()) {
      roots.push_back(st.loss);
      grads.push_back(torch::ones_like(st.loss));
    }
    for (const auto& [name, consumers] : routes.outgoing[s]) {
      torch::Tensor sum;
      for (int c : consumers) {
        auto item = mailbox.take({true, name, c, mb}, waiting());
        if (!item.tensor.defined()) continue;
        auto g = self.transport_->receive(item.tensor, item.from, device);
        count(item.from, device, g);
        sum = sum.defined() ? sum + g : g;
      }
      const auto& out = st.outputs.at(name);
      if (sum.defined() && out.requires_grad()) {
        roots.push_back(out);
        grads.push_back(sum);
      }
    }
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    for (const auto& [name, producer] : routes.incoming[s]) {
      auto leaf = st.leaves.at(name);
      mailbox.put({true, name, s, mb}, {leaf.grad(), device});
    }
  }

  void count(int from, int to, const torch::Tensor& tensor) {
    std::lock_guard<std::mutex> lock(mutex);
    stats[from].bytes_sent += tensor.nbytes();
    stats[to].bytes_received += tensor.nbytes();
  }

  void work(int device, const std::vector<Action>& order, int threads) {
    ScopedDevice attribution(device);
    const torch::Device where = self.device_of(device);
    c10::DeviceGuard current(where);  // new tensors of this worker's default to its device
    if (threads > 0) at::set_num_threads(threads);
    std::optional<compat::AutocastOn> autocast;
    if (self.options_.autocast) autocast.emplace(where.type(), *self.options_.autocast);
    double busy = 0;
    waiting() = 0;
    try {
      for (const Action& a : order) {
        auto start = Clock::now();
        const double waited_before = waiting();
        if (a.pass == Pass::forward) {
          if (training) {
            forward(a.stage, a.micro_batch, device);
          } else {
            torch::NoGradGuard no_grad;
            forward(a.stage, a.micro_batch, device);
          }
        } else {
          backward(a.stage, a.micro_batch, device);
        }
        if (where.is_cuda()) compat::cuda_synchronize(where.index());  // GPU kernels run asynchronously
        const double took = seconds_since(start), waited = waiting() - waited_before;
        busy += took;
        std::lock_guard<std::mutex> lock(mutex);
        // The span it computed: its inputs arrive before it starts computing.
        const double begin = std::chrono::duration<double>(start - started).count() + waited;
        actions.push_back({a, device, begin, begin + took - waited});
      }
    } catch (const Aborted&) {
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex);
      if (error.empty()) error = "logical device " + std::to_string(device) + ": " + e.what();
      mailbox.abort();
    }
    std::lock_guard<std::mutex> lock(mutex);
    stats[device].busy_seconds = busy - waiting();  // computing, not waiting for inputs
  }
};

void check_runnable(const Plan& plan) {
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    if (plan.stages[s].frame_group.empty()) continue;
    std::vector<std::string> devices;
    for (int d : stage_devices(plan.stages[s])) devices.push_back(std::to_string(d));
    throw InputError("stage " + std::to_string(s) + " of the " + plan.strategy + " plan shards frames over devices " +
                     join(devices, ", ") + ": `vggt-lab plan` predicts frame-sharded layouts, but the runtime "
                     "does not train them yet; train with another [placement]");
  }
}

Executor::Executor(std::shared_ptr<ModelInstance> model, ModelGraph graph, Plan plan,
                   Topology topology, std::shared_ptr<Transport> transport, RuntimeOptions options)
    : model_(std::move(model)), graph_(std::move(graph)), plan_(std::move(plan)),
      topology_(std::move(topology)), transport_(std::move(transport)), options_(options) {
  auto problems = check_plan(graph_, topology_, plan_);
  if (!problems.empty()) throw Error("invalid plan: " + problems.front());
  check_runnable(plan_);
  for (int d = 0; d < int(topology_.devices.size()); ++d) install_memory_meter(device_of(d));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, tensor] : state_dict(model_->module(), true)) tensors[name] = tensor;
  torch::NoGradGuard no_grad;
  for (const Stage& stage : plan_.stages) {
    ScopedDevice attribution(stage.device);
    for (const auto& unit : stage.units) {
      for (const auto& name : model_->unit_tensors(unit)) {
        auto& t = tensors.at(name);
        t.set_data(t.to(device_of(stage.device), /*non_blocking=*/false, /*copy=*/true));
      }
    }
  }
}

Executor::~Executor() = default;

torch::Device Executor::device_of(int logical) const {
  return torch::Device(topology_.devices.at(logical).physical);
}

StepResult Executor::step(const TensorMap& batch, const LossFn& loss) { return run(batch, &loss, false); }

StepResult Executor::predict(const TensorMap& batch) { return run(batch, nullptr, true); }

StepResult Executor::run(const TensorMap& batch, const LossFn* loss, bool keep_predictions) {
  Impl impl(*this, batch, loss, keep_predictions);
  Plan effective = plan_;
  effective.micro_batches = int(impl.micro.size());
  auto flops = [&](int s) {
    double total = 0;
    for (const auto& unit : plan_.stages[s].units) total += graph_.units[graph_.index_of(unit)].cost.forward_flops;
    return total;
  };
  Timeline order = simulate(graph_, effective,
                            [&](int s, Pass pass) { return (pass == Pass::forward ? 1.0 : 2.0) * flops(s) + 1.0; },
                            [](int, int) { return 0.0; });
  const int devices = int(topology_.devices.size());
  int workers = 0;
  for (int d = 0; d < devices; ++d) workers += !order.device_order(d).empty();
  int threads = options_.intra_op_threads > 0
                    ? options_.intra_op_threads
                    : worker_threads(process_cores(), workers);
  for (int d = 0; d < devices; ++d) reset_memory_peaks(device_of(d));
  auto start = Clock::now();
  impl.started = start;
  std::vector<std::pair<int, std::vector<Action>>> work;
  for (int d = 0; d < devices; ++d) {
    auto actions = order.device_order(d);
    if (!loss) {  // forward only
      actions.erase(std::remove_if(actions.begin(), actions.end(),
                                   [](const Action& a) { return a.pass == Pass::backward; }),
                    actions.end());
    }
    if (!actions.empty()) work.emplace_back(d, std::move(actions));
  }
  if (work.size() == 1) {  // a lone worker runs here, on this thread's OpenMP team
    const int previous = at::get_num_threads();
    impl.work(work[0].first, work[0].second, threads);
    at::set_num_threads(previous);
  } else {
    std::vector<std::thread> pool;
    for (const auto& [d, actions] : work) {
      pool.emplace_back([&impl, d = d, &actions = actions, threads] { impl.work(d, actions, threads); });
    }
    for (auto& t : pool) t.join();
  }
  if (!impl.error.empty()) throw Error("step failed on " + impl.error);
  StepResult result;
  result.seconds = seconds_since(start);
  result.losses = impl.losses;
  result.devices = impl.stats;
  for (int d = 0; d < devices; ++d) result.devices[d].peak_bytes = memory_count(device_of(d), d).peak;
  result.actions = impl.actions;
  if (keep_predictions) {
    std::map<std::string, std::vector<torch::Tensor>> parts;
    for (const auto& [key, map] : impl.predictions) {
      for (const auto& [name, tensor] : map) parts[name].push_back(tensor);
    }
    for (auto& [name, list] : parts) result.predictions[name] = torch::cat(list, 0);
  }
  return result;
}

void clear_gradients(const std::vector<torch::Tensor>& parameters) {
  for (torch::Tensor parameter : parameters) parameter.mutable_grad() = torch::Tensor();
}

}  // namespace vggt_lab::runtime
