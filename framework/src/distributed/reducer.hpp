#pragma once
// Gradient averaging overlapped with backward, as DDP's Reducer: a hook on
// each parameter's gradient accumulator counts its accumulations, and a
// bucket's all-reduce starts as soon as every gradient in it is final, while
// backward goes on. A gradient is final after as many accumulations as the
// first step of the same key (the batch size) gave it: micro-batches,
// accumulation steps and recomputation each add theirs. That first step
// reduces after backward, and so does any step whose counts differ on some
// rank, from the untouched gradients.
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "distributed/data_parallel.hpp"

namespace vggt_lab::distributed {

/// One step's communication.
struct ReduceStats {
  int buckets = 0;
  int during_backward = 0;     // buckets whose all-reduce started before backward ended
  double seconds = 0;          // the all-reduces' busy time, launch to completion
  double exposed_seconds = 0;  // what the step waited for them after backward
  bool recounted = false;  // this step (the first, or one whose counts changed) reduced after backward
  /// The fraction of the communication hidden behind backward.
  double hidden() const { return seconds > 0 ? std::clamp(1.0 - exposed_seconds / seconds, 0.0, 1.0) : 0.0; }
};

class VGGT_LAB_API Reducer {
 public:
  /// Buckets of at most bucket_cap_mb (the first of 1 MiB, as DDP), one
  /// type each, last parameters first;
  /// `late` ones (whose gradients the runtime completes after backward: a
  /// frame group's originals) in buckets of their own, reduced after backward.
  Reducer(DataParallel& dp, std::vector<NamedParameter> parameters, const std::vector<torch::Tensor>& late);
  ~Reducer();  // removes the hooks
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  /// Before the step's first backward; `key` names what decides the counts
  /// (the trainer: the batch's scenes, which bound its micro-batches), the
  /// same on every rank.
  void start_step(std::int64_t key = 0);
  /// After its last backward: the remaining buckets, then every gradient the
  /// mean over ranks (a parameter without one as zero, or an error naming it
  /// when find_unused_parameters is false).
  ReduceStats finish();

 private:
  using Clock = std::chrono::steady_clock;
  struct Bucket {
    std::vector<int> members;  // indices into parameters_
    torch::Tensor flat;
    int waiting = 0;  // members whose gradient is not final yet
    c10::intrusive_ptr<c10d::Work> work;
    c10::intrusive_ptr<c10::ivalue::Future> timed;  // completes after `completed` is set
    Clock::time_point launched, completed;
  };
  DataParallel& dp_;
  std::vector<NamedParameter> parameters_;
  std::vector<int> bucket_of_, seen_;  // per parameter
  std::vector<bool> late_;
  std::map<std::int64_t, std::vector<int>> counts_;  // per key, each parameter's accumulations in a step
  const std::vector<int>* expected_ = nullptr;       // this step's key's; null: not counted yet
  std::int64_t key_ = 0;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, std::uintptr_t>> hooks_;
  std::mutex mutex_;
  std::size_t next_ = 0;  // the next bucket to launch: every rank launches them in one order
  int during_backward_ = 0;
  std::exception_ptr error_;

  void make_buckets(const std::vector<torch::Tensor>& late);
  void accumulated(int parameter);
  void launch_ready();
  void launch(Bucket& bucket);
  bool counts_differ_anywhere();
  void write_back();
  double busy_seconds() const;
};

}  // namespace vggt_lab::distributed
