#include "runtime/frame_group.hpp"

#include <chrono>
#include <numeric>

namespace vggt_lab::runtime {
namespace {

using Clock = std::chrono::steady_clock;

/// all_gather as an autograd function: forward gathers every member's part,
/// backward sends each member its part of the gradient and sums its own.
class AllGather : public torch::autograd::Function<AllGather> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, GroupMember* member, const std::string& tag,
                               std::int64_t dim, const torch::Tensor& local) {
    std::vector<std::int64_t> sizes;
    auto pieces = member->gather_all(tag, local);
    for (const auto& piece : pieces) sizes.push_back(piece.size(dim));
    ctx->saved_data["member"] = reinterpret_cast<std::int64_t>(member);
    ctx->saved_data["tag"] = tag;
    ctx->saved_data["dim"] = dim;
    ctx->saved_data["sizes"] = sizes;
    return torch::cat(pieces, dim);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list gradients) {
    auto* member = reinterpret_cast<GroupMember*>(ctx->saved_data["member"].toInt());
    auto own = member->reduce_scatter(ctx->saved_data["tag"].toStringRef(), ctx->saved_data["dim"].toInt(),
                                      ctx->saved_data["sizes"].toIntVector(), gradients[0]);
    return {torch::Tensor(), torch::Tensor(), torch::Tensor(), own};
  }
};

}  // namespace

double& waited_seconds() {
  thread_local double seconds = 0;
  return seconds;
}

void Mailbox::put(const Key& key, Item item) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    items_[key] = std::move(item);
  }
  ready_.notify_all();
}

Mailbox::Item Mailbox::take(const Key& key) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto start = Clock::now();
  ready_.wait(lock, [&] { return aborted_ || items_.count(key); });
  waited_seconds() += std::chrono::duration<double>(Clock::now() - start).count();
  if (aborted_) throw Aborted{};
  Item item = std::move(items_[key]);
  items_.erase(key);
  return item;
}

void Mailbox::abort() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aborted_ = true;
  }
  ready_.notify_all();
}

std::int64_t GroupPlace::first_frame() const {
  return std::accumulate(frames.begin(), frames.begin() + rank, std::int64_t(0));
}

GroupMember::GroupMember(GroupPlace place, Mailbox& mailbox, Deliver deliver)
    : place_(std::move(place)), mailbox_(mailbox), deliver_(std::move(deliver)) {}

Mailbox::Key GroupMember::key(bool gradient, const std::string& tag, int from, int to) const {
  return {gradient, tag, place_.stage, place_.micro_batch, from, to};
}

torch::Tensor GroupMember::all_gather(const torch::Tensor& local, std::int64_t dim) {
  // Every member calls in the same order, so the n-th call matches everywhere.
  return AllGather::apply(this, "all_gather." + std::to_string(calls_++), dim, local);
}

std::vector<torch::Tensor> GroupMember::gather_all(const std::string& tag, const torch::Tensor& local) {
  const int me = place_.device(), n = int(place_.members.size());
  for (int j = 0; j < n; ++j) {
    if (j != place_.rank) mailbox_.put(key(false, tag, me, place_.members[j]), {local.detach(), me});
  }
  std::vector<torch::Tensor> pieces(n);
  for (int j = 0; j < n; ++j) {
    const int from = place_.members[j];
    pieces[j] = j == place_.rank ? local : deliver_(mailbox_.take(key(false, tag, from, me)).tensor, from, me);
  }
  return pieces;
}

torch::Tensor GroupMember::reduce_scatter(const std::string& tag, std::int64_t dim,
                                          const std::vector<std::int64_t>& sizes, const torch::Tensor& gradient) {
  const int me = place_.device(), n = int(place_.members.size());
  auto parts = gradient.split_with_sizes(sizes, dim);
  for (int j = 0; j < n; ++j) {
    if (j != place_.rank) mailbox_.put(key(true, tag, me, place_.members[j]), {parts[j], me});
  }
  torch::Tensor sum;  // in member order, the same on every device
  for (int j = 0; j < n; ++j) {
    const int from = place_.members[j];
    auto part = j == place_.rank ? parts[j] : deliver_(mailbox_.take(key(true, tag, from, me)).tensor, from, me);
    sum = sum.defined() ? sum + part : part;
  }
  return sum;
}

torch::Tensor GroupMember::gather_to_first(const std::string& name, const torch::Tensor& local) {
  const std::string tag = "first." + name;
  const int me = place_.device(), first = place_.members[0];
  if (!place_.first()) {
    mailbox_.put(key(false, tag, me, first), {local.detach(), me});
    return {};
  }
  std::vector<torch::Tensor> pieces{local.detach()};
  for (std::size_t j = 1; j < place_.members.size(); ++j) {
    const int from = place_.members[j];
    pieces.push_back(deliver_(mailbox_.take(key(false, tag, from, me)).tensor, from, me));
  }
  return torch::cat(pieces, 1);
}

torch::Tensor GroupMember::scatter_gradient(const std::string& name, const torch::Tensor& gradient) {
  const std::string tag = "first." + name;
  const int me = place_.device();
  std::vector<torch::Tensor> parts(place_.members.size());
  if (gradient.defined()) parts = gradient.split_with_sizes(place_.frames, 1);
  for (std::size_t j = 1; j < place_.members.size(); ++j) {
    mailbox_.put(key(true, tag, me, place_.members[j]), {parts[j], me});
  }
  return parts[0];
}

torch::Tensor GroupMember::gradient_from_first(const std::string& name) {
  const int me = place_.device(), first = place_.members[0];
  auto item = mailbox_.take(key(true, "first." + name, first, me));
  return item.tensor.defined() ? deliver_(item.tensor, first, me) : torch::Tensor();
}

}  // namespace vggt_lab::runtime
