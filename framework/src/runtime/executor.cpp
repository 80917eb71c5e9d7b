#include "runtime/executor.hpp"

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "host/suggest.hpp"
#include "runtime/frame_group.hpp"
#include "runtime/memory_meter.hpp"
#include "vggt_lab/compat.hpp"
#include "vggt_lab/error.hpp"
#include "vggt_lab/memory.hpp"
#include "vggt_lab/state_dict.hpp"

namespace vggt_lab::runtime {
namespace {

FrameSplit split_of(const ModelGraph& graph, const std::string& unit) {
  return graph.units[graph.index_of(unit)].split;
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

TensorMap on_device(const TensorMap& batch, const torch::Device& where) {
  TensorMap out;
  for (const auto& [name, tensor] : batch) out[name] = tensor.to(where);
  return out;
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
  std::map<std::tuple<int, int, int>, std::unique_ptr<GroupMember>> members;  // (stage, mb, device)
  Clock::time_point started = Clock::now();
  std::string error;

  struct StageState {
    TensorMap leaves, outputs;
    torch::Tensor loss;
    // A frame-sharded stage: this device's place (null: no frames here), its
    // parts of the tensors gathered onto the first device, and there those
    // tensors whole (the whole units' inputs) and the whole units' loss.
    GroupMember* group = nullptr;
    TensorMap sent, gathered;
    torch::Tensor whole_loss;
  };
  std::map<std::tuple<int, int, int>, StageState> states;  // (stage, mb, device); each touched by its device's worker

  Impl(Executor& e, const TensorMap& b, const LossFn* l, bool k)
      : self(e), routes(route(e.graph_, e.plan_)), loss(l), training(l != nullptr), keep(k),
        batch_size(b.at("images").size(0)) {
    micro = split_batch(b, e.plan_.micro_batches);
    stats.resize(e.topology_.devices.size());
  }

  StageState& state(int stage, int mb, int device) {
    std::lock_guard<std::mutex> lock(mutex);
    return states[{stage, mb, device}];
  }

  FrameSplit split_of(const std::string& unit) const { return runtime::split_of(self.graph_, unit); }

  torch::Tensor deliver(const torch::Tensor& tensor, int from, int to) {
    auto received = self.transport_->receive(tensor, from, to);
    count(from, to, received);
    return received;
  }

  // Between stages a tensor travels in pieces of frames (dimension 1): each
  // device of the producing stage holds some frames of it, each device of the
  // consuming stage needs some, and every overlap is one message. A stage
  // that does not shard holds and needs all frames, sent whole.

  /// Frames [first, first + count) of a tensor on a device.
  struct Span {
    int device = 0;
    std::int64_t first = 0, count = 0;
    bool operator==(const Span& o) const { return first == o.first && count == o.count; }
  };

  /// The frames each device of stage s works on in micro-batch mb, in frame order.
  std::vector<Span> shards(int s, int mb) const {
    const Stage& stage = self.plan_.stages[s];
    const std::int64_t frames = micro[mb].at("images").size(1);
    if (stage.frame_group.empty()) return {{stage.device, 0, frames}};
    const std::vector<int> devices = stage_devices(stage);
    const auto counts = frame_shards(frames, int(devices.size()));
    std::vector<Span> out;
    std::int64_t first = 0;
    for (std::size_t k = 0; k < devices.size(); ++k) {
      if (counts[k] > 0) out.push_back({devices[k], first, counts[k]});
      first += counts[k];
    }
    return out;
  }

  /// The frames of `name` each device of stage s needs: its own for frame-wise
  /// units, all on the first device for whole units.
  std::vector<Span> takers(int s, int mb, const std::string& name) const {
    bool whole = false, frame_wise = false;
    for (const auto& unit : self.plan_.stages[s].units) {
      auto in = routes.unit_inputs.find(unit);
      if (in == routes.unit_inputs.end() || std::count(in->second.begin(), in->second.end(), name) == 0) continue;
      (split_of(unit) == FrameSplit::whole ? whole : frame_wise) = true;
    }
    std::vector<Span> out = shards(s, mb);
    if (out.size() == 1) return out;
    const std::int64_t frames = micro[mb].at("images").size(1);
    if (!frame_wise) out.resize(1);
    if (whole) out[0] = {out[0].device, 0, frames};
    return out;
  }

  static std::optional<Span> overlap(const Span& a, const Span& b) {
    const std::int64_t first = std::max(a.first, b.first), end = std::min(a.first + a.count, b.first + b.count);
    if (end <= first) return std::nullopt;
    return Span{a.device, first, end - first};
  }

  /// The part `frames` of `tensor`, which holds `held`.
  static torch::Tensor piece(const torch::Tensor& tensor, const Span& held, const Span& frames) {
    return held == frames || !tensor.defined() ? tensor : tensor.narrow(1, frames.first - held.first, frames.count);
  }

  static std::optional<Span> span_of(const std::vector<Span>& spans, int device) {
    for (const Span& span : spans) {
      if (span.device == device) return span;
    }
    return std::nullopt;
  }

  static Mailbox::Key edge_key(bool gradient, const std::string& name, int consumer, int mb, int from, int to) {
    return {gradient, "edge." + name, consumer, mb, from, to};
  }

  /// Stage s's output `name` (this device's `held` frames) to every device of its consumers that needs some.
  void send_output(int s, int mb, int device, const std::string& name, const std::vector<int>& consumers,
                   const torch::Tensor& tensor, const Span& held) {
    for (int c : consumers) {
      for (const Span& need : takers(c, mb, name)) {
        if (auto frames = overlap(held, need)) {
          mailbox.put(edge_key(false, name, c, mb, device, need.device), {piece(tensor, held, *frames), device});
        }
      }
    }
  }

  /// The frames `need` of `name` from the devices of stage `producer` that hold them.
  torch::Tensor receive_input(int s, int mb, int device, const std::string& name, int producer, const Span& need) {
    std::vector<torch::Tensor> pieces;
    for (const Span& held : shards(producer, mb)) {
      if (!overlap(held, need)) continue;
      auto item = mailbox.take(edge_key(false, name, s, mb, held.device, device));
      pieces.push_back(deliver(item.tensor, item.from, device));
    }
    return pieces.size() == 1 ? pieces[0] : torch::cat(pieces, 1);
  }

  /// The gradient of an input (`need` frames) back to the devices that sent its pieces.
  void send_gradient(int s, int mb, int device, const std::string& name, int producer, const torch::Tensor& grad,
                     const Span& need) {
    for (const Span& held : shards(producer, mb)) {
      if (auto frames = overlap(need, held)) {
        mailbox.put(edge_key(true, name, s, mb, held.device, device), {piece(grad, need, *frames), device});
      }
    }
  }

  /// The gradient of this device's `held` frames of output `name`, summed over its consumers.
  torch::Tensor receive_gradient(int mb, int device, const std::string& name, const std::vector<int>& consumers,
                                 const torch::Tensor& output, const Span& held) {
    torch::Tensor sum;
    for (int c : consumers) {
      for (const Span& need : takers(c, mb, name)) {
        auto frames = overlap(held, need);
        if (!frames) continue;
        auto item = mailbox.take(edge_key(true, name, c, mb, device, need.device));
        if (!item.tensor.defined()) continue;
        auto g = deliver(item.tensor, item.from, device);
        if (*frames == held) {
          sum = sum.defined() ? sum + g : g;
        } else {
          if (!sum.defined()) sum = torch::zeros_like(output);
          sum.narrow(1, frames->first - held.first, frames->count).add_(g);
        }
      }
    }
    return sum;
  }

  void forward(int s, int mb, int device) {
    if (!self.plan_.stages[s].frame_group.empty()) return forward_sharded(s, mb, device);
    const auto& stage = self.plan_.stages[s];
    const torch::Device where = self.device_of(device);
    StageState& st = state(s, mb, device);
    const TensorMap mb_batch = on_device(micro[mb], where);
    TensorMap available;
    for (const auto& name : routes.model_inputs[s]) available[name] = mb_batch.at(name);
    const Span all = shards(s, mb).front();
    for (const auto& [name, producer] : routes.incoming[s]) {
      auto tensor = receive_input(s, mb, device, name, producer, all).detach();
      if (training && tensor.is_floating_point()) tensor.requires_grad_(true);
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
      send_output(s, mb, device, name, consumers, available.at(name), all);
    }
    if (!predictions.empty()) {
      keep_predictions(s, mb, predictions);
      st.loss = loss_of(mb, predictions, mb_batch, nullptr);
    }
    if (!training) st = StageState{};
  }

  /// This device's place in frame-sharded stage s for micro-batch mb; null
  /// when its shard of the micro-batch's frames is empty.
  GroupMember* member(int s, int mb, int device) {
    GroupPlace place;
    place.stage = s;
    place.micro_batch = mb;
    for (const Span& span : shards(s, mb)) {
      if (span.device == device) place.rank = int(place.members.size());
      place.members.push_back(span.device);
      place.frames.push_back(span.count);
    }
    if (std::find(place.members.begin(), place.members.end(), device) == place.members.end()) return nullptr;
    auto group = std::make_unique<GroupMember>(place, mailbox, [this](const torch::Tensor& t, int from, int to) {
      return deliver(t, from, to);
    });
    std::lock_guard<std::mutex> lock(mutex);
    return (members[{s, mb, device}] = std::move(group)).get();
  }

  /// A frame-sharded stage: frame-wise units on this device's frames, whole
  /// units on the first device on inputs gathered there; each device's part
  /// of the loss on its frames, the whole units' loss on the first device.
  void forward_sharded(int s, int mb, int device) {
    GroupMember* group = member(s, mb, device);
    if (!group) return;
    const GroupPlace& place = group->place();
    const torch::Device where = self.device_of(device);
    StageState& st = state(s, mb, device);
    st.group = group;
    const InputShape whole = shape_of(micro[mb]);
    InputShape local = whole;
    local.frames = place.frames[place.rank];
    local.first_frame = place.first_frame();
    TensorMap mine;  // the micro-batch's tensors with frames in dimension 1, this device's frames
    for (const auto& [name, tensor] : micro[mb]) {
      const bool frames = tensor.dim() > 1 && tensor.size(1) == whole.frames;
      mine[name] = (frames ? tensor.narrow(1, local.first_frame, local.frames) : tensor).to(where);
    }
    TensorMap available, predictions, whole_predictions;  // this device's frames; the first's whole units'
    TensorMap whole_inputs;  // inputs from other stages with all frames, on the first device
    const Span held{device, local.first_frame, local.frames};
    for (const auto& [name, producer] : routes.incoming[s]) {
      auto need = span_of(takers(s, mb, name), device);
      if (!need) continue;
      auto leaf = receive_input(s, mb, device, name, producer, *need).detach();
      if (training && leaf.is_floating_point()) leaf.requires_grad_(true);
      st.leaves[name] = leaf;
      if (need->count == whole.frames) whole_inputs[name] = leaf;
      available[name] = piece(leaf, *need, held);
    }
    auto gathered = [&](const std::string& name) {  // a frame-wise tensor, whole on the first device
      if (!st.sent.count(name)) {
        st.sent[name] = available.at(name);
        auto all = group->gather_to_first(name, available.at(name));
        if (place.first()) st.gathered[name] = all.requires_grad_(training && all.is_floating_point());
      }
      return place.first() ? st.gathered.at(name) : torch::Tensor();
    };
    TensorMap outputs_of_whole;
    for (const auto& unit : self.plan_.stages[s].units) {
      const bool frame_wise = split_of(unit) != FrameSplit::whole;
      TensorMap inputs;
      for (const auto& name : routes.unit_inputs[unit]) {
        if (micro[mb].count(name) && !available.count(name)) {
          inputs[name] = frame_wise ? mine.at(name) : micro[mb].at(name).to(where);
        } else if (frame_wise) {
          inputs[name] = available.at(name);
        } else if (whole_inputs.count(name)) {  // on the first device only
          inputs[name] = whole_inputs.at(name);
        } else if (outputs_of_whole.count(name)) {
          inputs[name] = outputs_of_whole.at(name);
        } else if (available.count(name)) {
          inputs[name] = gathered(name);
        }
      }
      if (!frame_wise && !place.first()) continue;
      ModelInstance& model = self.model_on(device);
      for (auto& [name, tensor] : frame_wise ? model.run_unit(unit, inputs, local, group)
                                             : model.run_unit(unit, inputs, whole)) {
        if (routes.edge_tensors.count(name)) {
          (frame_wise ? available : outputs_of_whole)[name] = tensor;
        } else {
          (frame_wise ? predictions : whole_predictions)[name] = tensor;
        }
      }
    }
    for (const auto& [name, consumers] : routes.outgoing[s]) {
      st.outputs[name] = available.at(name);
      send_output(s, mb, device, name, consumers, available.at(name), held);
    }
    if (!predictions.empty()) st.loss = loss_of(mb, predictions, mine, group);
    if (place.first() && !whole_predictions.empty()) {
      st.whole_loss = loss_of(mb, whole_predictions, on_device(micro[mb], where), nullptr);
    }
    if (keep) {  // the first device keeps all frames' predictions
      for (const auto& [name, tensor] : predictions) {
        auto all = group->gather_to_first("prediction:" + name, tensor);
        if (place.first()) whole_predictions[name] = all;
      }
      if (place.first()) keep_predictions(s, mb, whole_predictions);
    }
    if (!training) st = StageState{};
  }

  void keep_predictions(int s, int mb, const TensorMap& predictions) {
    if (!keep) return;
    TensorMap cpu;
    for (const auto& [name, tensor] : predictions) cpu[name] = tensor.detach().to(torch::kCPU);
    std::lock_guard<std::mutex> lock(mutex);
    predictions_of(mb, s) = std::move(cpu);
  }

  /// The loss on these predictions, weighted by the micro-batch's share of
  /// the batch; its terms add to the step's.
  torch::Tensor loss_of(int mb, const TensorMap& predictions, const TensorMap& mb_batch, FrameGroup* frames) {
    if (!loss) return {};
    TensorMap terms = (*loss)(predictions, mb_batch, frames);
    const double weight = double(micro[mb].at("images").size(0)) / double(batch_size);
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [name, value] : terms) {
      if (value.defined()) losses[name] += value.detach().item<double>() * weight;
    }
    auto total = terms.find("loss");
    return total != terms.end() && total->second.defined() ? total->second * weight : torch::Tensor();
  }

  TensorMap& predictions_of(int mb, int s) { return predictions[{mb, s}]; }

  void backward(int s, int mb, int device) {
    StageState st;
    {
      std::lock_guard<std::mutex> lock(mutex);
      st = std::move(states[{s, mb, device}]);
      states.erase({s, mb, device});
    }
    if (!self.plan_.stages[s].frame_group.empty()) return backward_sharded(s, mb, device, st);
    std::vector<torch::Tensor> roots, grads;
    if (st.loss.defined() && st.loss.requires_grad()) {
      roots.push_back(st.loss);
      grads.push_back(torch::ones_like(st.loss));
    }
    const Span all = shards(s, mb).front();
    add_output_gradients(s, mb, device, st, all, roots, grads);
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    send_input_gradients(s, mb, device, st);
  }

  /// Roots for backward: each output that has a gradient from its consumers.
  void add_output_gradients(int s, int mb, int device, const StageState& st, const Span& held,
                            std::vector<torch::Tensor>& roots, std::vector<torch::Tensor>& grads) {
    for (const auto& [name, consumers] : routes.outgoing[s]) {
      const auto& out = st.outputs.at(name);
      auto sum = receive_gradient(mb, device, name, consumers, out, held);
      if (sum.defined() && out.requires_grad()) {
        roots.push_back(out);
        grads.push_back(sum);
      }
    }
  }

  void send_input_gradients(int s, int mb, int device, const StageState& st) {
    for (const auto& [name, producer] : routes.incoming[s]) {
      auto need = span_of(takers(s, mb, name), device);
      if (need) send_gradient(s, mb, device, name, producer, st.leaves.at(name).grad(), *need);
    }
  }

  /// The first device backpropagates the whole units' loss to their gathered
  /// inputs and sends each device its part of their gradients; then every
  /// device runs backward from its part of the loss and of those inputs, its
  /// global units exchanging gradients.
  void backward_sharded(int s, int mb, int device, StageState& st) {
    if (!st.group) return;
    GroupMember& group = *st.group;
    if (st.whole_loss.defined() && st.whole_loss.requires_grad()) {
      torch::autograd::backward({st.whole_loss}, {torch::ones_like(st.whole_loss)});
    }
    std::vector<torch::Tensor> roots, grads;
    if (st.loss.defined() && st.loss.requires_grad()) {
      roots.push_back(st.loss);
      grads.push_back(torch::ones_like(st.loss));
    }
    for (const auto& [name, part] : st.sent) {
      auto g = group.place().first() ? group.scatter_gradient(name, st.gathered.at(name).grad())
                                     : group.gradient_from_first(name);
      if (g.defined() && part.requires_grad()) {
        roots.push_back(part);
        grads.push_back(g);
      }
    }
    add_output_gradients(s, mb, device, st, *span_of(shards(s, mb), device), roots, grads);
    if (!roots.empty()) torch::autograd::backward(roots, grads);
    send_input_gradients(s, mb, device, st);
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
    waited_seconds() = 0;
    try {
      for (const Action& a : order) {
        auto start = Clock::now();
        const double waited_before = waited_seconds();
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
        const double took = seconds_since(start), waited = waited_seconds() - waited_before;
        busy += took;
        std::lock_guard<std::mutex> lock(mutex);
        // The span it computed: its inputs arrive before it starts computing.
        const double begin = std::chrono::duration<double>(start - started).count() + waited;
        actions.push_back({a, device, begin, begin + took - waited});
      }
    } catch (const Aborted&) {
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (error.empty()) error = "logical device " + std::to_string(device) + ": " + e.what();
      }
      mailbox.abort();
    }
    std::lock_guard<std::mutex> lock(mutex);
    stats[device].busy_seconds = busy - waited_seconds();  // computing, not waiting for inputs
  }
};

namespace {

void check_one_gpu_each(const Plan& plan, const Topology& topology) {
  for (std::size_t s = 0; s < plan.stages.size(); ++s) {
    std::map<std::string, int> holder;  // a GPU -> the group's first device on it
    for (int d : stage_devices(plan.stages[s])) {
      const std::string& physical = topology.devices.at(d).physical;
      if (physical.rfind("cuda", 0) != 0) continue;
      auto [it, fresh] = holder.emplace(physical, d);
      if (fresh) continue;
      throw InputError("stage " + std::to_string(s) + " of the " + plan.strategy + " plan shards frames over logical devices " +
                       std::to_string(it->second) + " and " + std::to_string(d) + ", both on " + physical +
                       ": a GPU runs backward on one thread, where the group's exchanges would wait on each other. "
                       "Give each device of a frame group a GPU of its own ([devices] count no more than the GPUs)");
    }
  }
}

}  // namespace

void check_runnable(const ModelGraph& graph, const Plan& plan, const Topology& topology) {
  check_one_gpu_each(plan, topology);
  const std::map<std::string, int> stage_of = unit_stages(plan);
  for (const Edge& e : graph.edges) {
    auto from = stage_of.find(e.from);
    if (from == stage_of.end()) continue;  // a model input
    const int to = stage_of.at(e.to);
    if (plan.stages[from->second].frame_group.empty() || split_of(graph, e.from) != FrameSplit::whole) continue;
    if (from->second != to) {
      throw InputError("unit '" + e.from + "' computes '" + e.tensor + "' from all frames in frame-sharded stage " +
                       std::to_string(from->second) + " of the " + plan.strategy + " plan, and stage " +
                       std::to_string(to) + " reads it: the runtime sends a sharded stage's tensors by frames. "
                       "Place '" + e.from + "' in a stage that does not shard frames");
    }
    if (split_of(graph, e.to) != FrameSplit::whole) {
      throw InputError("unit '" + e.to + "' works frame by frame on '" + e.tensor + "', which unit '" + e.from +
                       "' computes from all frames, in frame-sharded stage " + std::to_string(to) +
                       ": the runtime runs whole units on the group's first device only. Place '" + e.to +
                       "' in a stage of its own");
    }
  }
}

Executor::Executor(std::shared_ptr<ModelInstance> model, ModelGraph graph, Plan plan,
                   Topology topology, std::shared_ptr<Transport> transport, RuntimeOptions options)
    : model_(std::move(model)), graph_(std::move(graph)), plan_(std::move(plan)),
      topology_(std::move(topology)), transport_(std::move(transport)), options_(options) {
  auto problems = check_plan(graph_, topology_, plan_);
  if (!problems.empty()) throw Error("invalid plan: " + problems.front());
  check_runnable(graph_, plan_, topology_);
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
  make_replicas(tensors);
}

void Executor::make_replicas(const std::map<std::string, torch::Tensor>& originals) {
  torch::NoGradGuard no_grad;
  const std::map<std::string, int> owners = optimizer_devices(graph_, plan_, frozen_units());
  for (const Stage& stage : plan_.stages) {
    for (int device : stage.frame_group) {
      auto& replica = replicas_[device];
      if (!replica) {
        if (!options_.replica) throw Error("a frame-sharded plan needs RuntimeOptions::replica to build model copies");
        replica = options_.replica();
      }
      std::map<std::string, torch::Tensor> copies;
      for (const auto& [name, tensor] : state_dict(replica->module(), true)) copies[name] = tensor;
      ScopedDevice attribution(device);
      for (const auto& unit : stage.units) {
        if (split_of(graph_, unit) == FrameSplit::whole) continue;
        auto owner = owners.find(unit);
        for (const auto& name : model_->unit_tensors(unit)) {
          const torch::Tensor& original = originals.at(name);
          auto copy = copies.at(name);
          copy.set_data(original.to(device_of(device), /*non_blocking=*/false, /*copy=*/true));
          const bool steps = owner != owners.end() && owner->second == device && original.requires_grad();
          mirrors_.push_back({original, copy, device, stage.device, steps});
        }
      }
    }
  }
  std::set<const void*> kept;  // what a replica does not run, it need not hold
  for (const Mirror& m : mirrors_) kept.insert(m.copy.unsafeGetTensorImpl());
  for (auto& [device, replica] : replicas_) {
    for (const auto& [name, tensor] : state_dict(replica->module(), true)) {
      if (!kept.count(tensor.unsafeGetTensorImpl())) torch::Tensor(tensor).set_data(torch::empty({0}, tensor.options()));
    }
  }
}

/// Units none of whose parameters train, as the plan's memory model has them.
std::set<std::string> Executor::frozen_units() const {
  auto params = model_->module().named_parameters();
  std::set<std::string> out;
  for (const Unit& unit : graph_.units) {
    const auto names = model_->unit_tensors(unit.name);
    if (std::none_of(names.begin(), names.end(), [&](const std::string& name) {
          auto* p = params.find(name);
          return p && p->requires_grad();
        })) {
      out.insert(unit.name);
    }
  }
  return out;
}

std::map<int, std::vector<NamedParameter>> Executor::optimizer_shards(
    const std::map<int, std::vector<NamedParameter>>& by_stage_device) const {
  std::map<const void*, const Mirror*> stepped;
  for (const Mirror& m : mirrors_) {
    if (m.steps) stepped[m.original.unsafeGetTensorImpl()] = &m;
  }
  std::map<int, std::vector<NamedParameter>> out;
  for (const auto& [device, params] : by_stage_device) {
    for (const NamedParameter& p : params) {
      auto m = stepped.find(p.tensor.unsafeGetTensorImpl());
      if (m == stepped.end()) {
        out[device].push_back(p);
      } else {
        out[m->second->device].push_back({p.name, m->second->copy});
      }
    }
  }
  return out;
}

void Executor::lend_gradients() {
  torch::NoGradGuard no_grad;
  for (const Mirror& m : mirrors_) {
    if (!m.steps || !m.original.grad().defined()) continue;
    ScopedDevice attribution(m.device);
    torch::Tensor(m.copy).mutable_grad() = transport_->receive(m.original.grad(), m.home, m.device);
  }
}

void Executor::take_stepped_parameters() {
  torch::NoGradGuard no_grad;
  for (const Mirror& m : mirrors_) {
    if (!m.steps) continue;
    ScopedDevice attribution(m.home);
    torch::Tensor(m.original).copy_(transport_->receive(m.copy, m.device, m.home));
    torch::Tensor(m.copy).mutable_grad() = torch::Tensor();
  }
}

ModelInstance& Executor::model_on(int device) {
  auto replica = replicas_.find(device);
  return replica == replicas_.end() ? *model_ : *replica->second;
}

void Executor::sync_replicas() {
  torch::NoGradGuard no_grad;
  for (const Mirror& m : mirrors_) {
    ScopedDevice attribution(m.device);
    torch::Tensor(m.copy).copy_(m.original);
  }
  for (auto& [device, replica] : replicas_) replica->module().train(model_->module().is_training());
}

std::vector<torch::Tensor> Executor::completed_after_backward() const {
  std::vector<torch::Tensor> out;
  for (const Mirror& m : mirrors_) out.push_back(m.original);
  return out;
}

void Executor::sum_replica_gradients(Impl& impl) {
  torch::NoGradGuard no_grad;
  for (const Mirror& m : mirrors_) {
    torch::Tensor copy = m.copy, original = m.original;
    if (!copy.grad().defined()) continue;
    ScopedDevice attribution(m.home);
    auto g = impl.deliver(copy.grad(), m.device, m.home);
    if (original.grad().defined()) {
      original.mutable_grad().add_(g);
    } else {
      original.mutable_grad() = g;
    }
    copy.mutable_grad() = torch::Tensor();
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
  sync_replicas();
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
  if (loss) sum_replica_gradients(impl);
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
