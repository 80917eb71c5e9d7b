#define USE_C10D_GLOO 1
#include "distributed/reducer.hpp"

#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>

#include <algorithm>
#include <set>

#include "vggt_lab/error.hpp"

namespace vggt_lab::distributed {

Reducer::Reducer(DataParallel& dp, std::vector<NamedParameter> parameters, const std::vector<torch::Tensor>& late)
    : dp_(dp), parameters_(std::move(parameters)), bucket_of_(parameters_.size()), seen_(parameters_.size()),
      late_(parameters_.size(), false) {
  make_buckets(late);
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    auto accumulator = torch::autograd::impl::grad_accumulator(parameters_[i].tensor);
    if (!accumulator) continue;
    const auto key = accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          accumulated(int(i));
          return outputs;
        }));
    hooks_.emplace_back(std::move(accumulator), key);  // held: a tensor keeps its accumulator weakly
  }
}

Reducer::~Reducer() {
  for (auto& [accumulator, key] : hooks_) accumulator->del_post_hook(key);
}

void Reducer::make_buckets(const std::vector<torch::Tensor>& late) {
  std::set<const void*> late_ones;
  for (const auto& t : late) late_ones.insert(t.unsafeGetTensorImpl());
  std::vector<int> early, after;
  for (int i = int(parameters_.size()) - 1; i >= 0; --i) {
    const bool is_late = late_ones.count(parameters_[i].tensor.unsafeGetTensorImpl()) > 0;
    (is_late ? after : early).push_back(i);
    late_[i] = is_late;
  }
  const std::int64_t cap = std::int64_t(dp_.settings().bucket_cap_mb * 1024 * 1024);
  const std::int64_t first_cap = std::min<std::int64_t>(cap, 1 << 20);  // as DDP: the first all-reduce starts early
  std::int64_t bytes = 0;
  for (const std::vector<int>* run : {&early, &after}) {
    bool fresh = true;
    for (int i : *run) {
      const torch::Tensor& t = parameters_[i].tensor;
      const std::int64_t size = t.numel() * std::int64_t(t.element_size());
      const bool other_type = !buckets_.empty() && !buckets_.back().members.empty() &&
                              parameters_[buckets_.back().members.front()].tensor.scalar_type() != t.scalar_type();
      if (fresh || other_type || bytes + size > (buckets_.size() == 1 ? first_cap : cap)) {
        buckets_.emplace_back();
        bytes = 0;
        fresh = false;
      }
      buckets_.back().members.push_back(i);
      bucket_of_[i] = int(buckets_.size()) - 1;
      bytes += size;
    }
  }
  for (Bucket& b : buckets_) {
    std::int64_t numel = 0;
    for (int i : b.members) numel += parameters_[i].tensor.numel();
    const auto type = parameters_[b.members.front()].tensor.scalar_type();
    b.flat = torch::zeros({numel}, torch::TensorOptions().dtype(type).device(dp_.device_));
  }
}

void Reducer::start_step(std::int64_t key) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::fill(seen_.begin(), seen_.end(), 0);
  key_ = key;
  const auto counted = counts_.find(key);
  expected_ = counted == counts_.end() ? nullptr : &counted->second;
  for (Bucket& b : buckets_) {
    b.waiting = 0;
    for (int i : b.members) b.waiting += late_[i] || !expected_ || (*expected_)[i] != 0 ? 1 : 0;
    b.work.reset();
    b.timed.reset();
  }
  next_ = 0;
  during_backward_ = 0;
  error_ = nullptr;
}

void Reducer::accumulated(int i) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++seen_[i];
  if (late_[i] || !expected_ || seen_[i] != (*expected_)[i]) return;
  if (--buckets_[bucket_of_[i]].waiting > 0) return;
  try {
    const std::size_t before = next_;
    launch_ready();
    during_backward_ += int(next_ - before);
  } catch (...) {
    if (!error_) error_ = std::current_exception();
  }
}

void Reducer::launch_ready() {
  while (next_ < buckets_.size() && buckets_[next_].waiting == 0) launch(buckets_[next_++]);
}

void Reducer::launch(Bucket& b) {
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0;
  for (int i : b.members) {
    const NamedParameter& p = parameters_[i];
    torch::Tensor part = b.flat.narrow(0, offset, p.tensor.numel());
    offset += p.tensor.numel();
    const torch::Tensor& g = p.tensor.grad();
    if (g.defined()) {
      part.copy_(g.reshape(-1));
    } else if (dp_.settings().find_unused_parameters) {
      part.zero_();
    } else {
      throw Error("parameter '" + p.name +
                  "' received no gradient in this step; set [distributed] find_unused_parameters = true "
                  "or freeze it with [train] frozen");
    }
  }
  std::vector<at::Tensor> one{b.flat};
  b.launched = Clock::now();
  b.work = dp_.backend().allreduce(one);
  b.timed = b.work->getFuture()->then(
      [&b](c10::ivalue::Future&) {
        b.completed = Clock::now();
        return c10::IValue();
      },
      c10::NoneType::get());
}

ReduceStats Reducer::finish() {
  const Clock::time_point start = Clock::now();
  ReduceStats stats;
  stats.recounted = !expected_;
  stats.during_backward = during_backward_;
  stats.buckets = int(buckets_.size());
  dp_.collective("all-reduce of gradients", [&] {
    if (error_) std::rethrow_exception(error_);  // from a launch during backward
    for (Bucket& b : buckets_) b.waiting = 0;
    launch_ready();
    for (Bucket& b : buckets_) {
      b.work->wait();
      b.timed->wait();
    }
  });
  stats.exposed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stats.seconds = std::max(busy_seconds(), stats.exposed_seconds);
  if (counts_differ_anywhere()) {
    stats.recounted = true;
    dp_.collective("all-reduce of gradients", [&] {
      for (Bucket& b : buckets_) {
        launch(b);
        b.work->wait();
      }
    });
  }
  counts_[key_] = seen_;
  expected_ = nullptr;
  write_back();
  return stats;
}

/// Whether any rank's accumulations differ from the counts its buckets were
/// launched by: those all-reduces may have read a gradient before its last
/// accumulation, and every rank must then reduce again. Asked every step,
/// so that the ranks' collectives stay in step whatever each counted.
bool Reducer::counts_differ_anywhere() {
  bool differ = false;
  for (std::size_t i = 0; expected_ && i < parameters_.size(); ++i) {
    differ = differ || (!late_[i] && seen_[i] != (*expected_)[i]);
  }
  torch::Tensor flag = torch::full({1}, differ ? 1.0 : 0.0, torch::TensorOptions().device(dp_.device_));
  dp_.collective("comparing gradient counts", [&] {
    std::vector<at::Tensor> one{flag};
    dp_.backend().allreduce(one)->wait();
  });
  return flag.item<double>() > 0;
}

void Reducer::write_back() {
  torch::NoGradGuard no_grad;
  const double ranks = double(dp_.world().size);
  for (Bucket& b : buckets_) {
    b.flat.div_(ranks);
    std::int64_t offset = 0;
    for (int i : b.members) {
      torch::Tensor param = parameters_[i].tensor;
      torch::Tensor part = b.flat.narrow(0, offset, param.numel()).view_as(param);
      offset += param.numel();
      if (dp_.settings().gradient_as_bucket_view && part.device() == param.device()) {
        param.mutable_grad() = part;
      } else if (param.grad().defined()) {
        param.mutable_grad().copy_(part);
      } else {
        param.mutable_grad() = part.to(param.device(), /*non_blocking=*/false, /*copy=*/true);
      }
    }
  }
}

/// The all-reduces run one after another: each busy from its launch, or
/// the one before's completion, to its own completion.
double Reducer::busy_seconds() const {
  double busy = 0;
  Clock::time_point free = Clock::time_point::min();
  for (const Bucket& b : buckets_) {
    const Clock::time_point from = std::max(b.launched, free);
    busy += std::chrono::duration<double>(b.completed - from).count();
    free = b.completed;
  }
  return busy;
}

}  // namespace vggt_lab::distributed
