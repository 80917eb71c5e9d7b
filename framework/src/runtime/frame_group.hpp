#pragma once
// What the logical devices of a step exchange: the mailbox that carries
// tensors between stages, and frame parallelism's exchanges among the
// devices of a frame-sharded stage: the all-gather the model's global units
// (keys and values) and the losses (counts, quantiles) call, and gathers
// onto the group's first device (inputs of whole units with their gradients
// back, predictions kept for inference).
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "vggt_lab/model.hpp"

namespace vggt_lab::runtime {

/// Thrown in a worker waiting for a tensor when another worker failed (a
/// std::exception, so autograd's engine passes it through backward).
struct Aborted : std::exception {
  const char* what() const noexcept override { return "aborted: another logical device failed"; }
};

/// Seconds this worker thread has waited for tensors in this step.
double& waited_seconds();

/// Tensors in flight between logical devices, keyed by (gradient?, tensor,
/// stage, micro-batch, from, to); stage-to-stage messages leave from and to
/// at -1 and key by the consumer stage.
class Mailbox {
 public:
  using Key = std::tuple<bool, std::string, int, int, int, int>;
  struct Item {
    torch::Tensor tensor;  // undefined: "no gradient"
    int from = 0;          // logical device
  };

  void put(const Key& key, Item item);
  /// Blocks until the item is there, counting the wait in waited_seconds().
  Item take(const Key& key);
  /// Wakes every waiting worker with Aborted.
  void abort();

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::map<Key, Item> items_;
  bool aborted_ = false;
};

/// Moves a tensor between logical devices and counts it (the receiver calls it).
using Deliver = std::function<torch::Tensor(const torch::Tensor& tensor, int from, int to)>;

/// One device's place in a frame-sharded stage for one micro-batch.
struct GroupPlace {
  int stage = 0, micro_batch = 0;
  std::vector<int> members;            // the devices that hold frames, in frame order
  std::vector<std::int64_t> frames;    // each member's frame count
  int rank = 0;                        // this device's index in members
  int device() const { return members.at(rank); }
  bool first() const { return rank == 0; }
  std::int64_t first_frame() const;
};

/// The FrameGroup service of one device, and the runtime's own exchanges
/// of a frame-sharded stage (frames in dimension 1).
class GroupMember : public FrameGroup {
 public:
  GroupMember(GroupPlace place, Mailbox& mailbox, Deliver deliver);
  const GroupPlace& place() const { return place_; }

  torch::Tensor all_gather(const torch::Tensor& local, std::int64_t dim) override;

  /// On the first device: every member's `local` of tensor `name`,
  /// concatenated in frame order (no autograd history). Elsewhere: sends
  /// `local` to the first device and returns an undefined tensor.
  torch::Tensor gather_to_first(const std::string& name, const torch::Tensor& local);
  /// On the first device, with the gradient of a gathered tensor (undefined:
  /// none): sends each member its part and returns the first device's own.
  torch::Tensor scatter_gradient(const std::string& name, const torch::Tensor& gradient);
  /// Elsewhere: this device's part of that gradient (undefined: none).
  torch::Tensor gradient_from_first(const std::string& name);

  // The halves of all_gather, for its autograd function: every member's
  // part in frame order; this member's part of the gradient, summed.
  std::vector<torch::Tensor> gather_all(const std::string& tag, const torch::Tensor& local);
  torch::Tensor reduce_scatter(const std::string& tag, std::int64_t dim, const std::vector<std::int64_t>& sizes,
                               const torch::Tensor& gradient);

 private:
  Mailbox::Key key(bool gradient, const std::string& tag, int from, int to) const;
  GroupPlace place_;
  Mailbox& mailbox_;
  Deliver deliver_;
  std::atomic<int> calls_{0};
};

}  // namespace vggt_lab::runtime
