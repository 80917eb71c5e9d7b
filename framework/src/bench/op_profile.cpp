#include "bench/op_profile.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

namespace vggt_lab::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Frame {
  Clock::time_point start;
  double children = 0;  // seconds of the operators it called
  double flops = 0;
  std::string product;  // a product's operator and shapes
};

/// "552x384", with "^T" for a transposed view (unit stride across rows).
std::string shape_text(const at::Tensor& t) {
  std::string out;
  for (auto size : t.sizes()) out += (out.empty() ? "" : "x") + std::to_string(size);
  const bool transposed = t.dim() >= 2 && t.stride(-2) == 1 && t.size(-1) > 1;
  return out + (transposed ? "^T" : "");
}

/// The frame of an operator entered now: for a matrix product, its 2 M N K
/// (batched for bmm) and its operator and operand shapes.
Frame frame_for(const at::RecordFunction& fn) {
  Frame frame{Clock::now(), 0.0, 0.0, {}};
  const std::string_view name = fn.name();
  if (name != "aten::mm" && name != "aten::addmm" && name != "aten::bmm") return frame;
  const auto inputs = fn.inputs();
  const std::size_t first = name == "aten::addmm" ? 1 : 0;
  if (inputs.size() < first + 2 || !inputs[first].isTensor() || !inputs[first + 1].isTensor()) return frame;
  const at::Tensor &a = inputs[first].toTensor(), &b = inputs[first + 1].toTensor();
  double batch = 1;
  for (std::int64_t d = 0; d + 2 < a.dim(); ++d) batch *= double(a.size(d));
  frame.flops = 2.0 * batch * double(a.size(-2)) * double(a.size(-1)) * double(b.size(-1));
  frame.product = std::string(name) + " " + shape_text(a) + " * " + shape_text(b);
  return frame;
}

std::mutex g_mutex;
std::map<std::string, OpTime>& totals() {
  static std::map<std::string, OpTime> ops;
  return ops;
}
std::map<std::string, OpTime>& product_totals() {
  static std::map<std::string, OpTime> products;
  return products;
}
thread_local std::vector<Frame> t_stack;

void add(std::map<std::string, OpTime>& to, const std::string& name, double self, double flops) {
  OpTime& op = to[name];
  op.name = name;
  op.self_seconds += self;
  op.flops += flops;
  ++op.calls;
}

std::vector<OpTime> by_time(const std::map<std::string, OpTime>& ops) {
  std::vector<OpTime> out;
  for (const auto& [name, op] : ops) out.push_back(op);
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.self_seconds > b.self_seconds; });
  return out;
}

std::unique_ptr<at::ObserverContext> entered(const at::RecordFunction& fn) {
  t_stack.push_back(frame_for(fn));
  return nullptr;
}

void left(const at::RecordFunction& fn, at::ObserverContext*) {
  if (t_stack.empty()) return;  // entered before the profile started
  const Frame frame = t_stack.back();
  t_stack.pop_back();
  const double seconds = std::chrono::duration<double>(Clock::now() - frame.start).count();
  if (!t_stack.empty()) t_stack.back().children += seconds;
  const double self = std::max(0.0, seconds - frame.children);
  std::lock_guard<std::mutex> lock(g_mutex);
  add(totals(), fn.name(), self, frame.flops);
  if (!frame.product.empty()) add(product_totals(), frame.product, self, frame.flops);
}

}  // namespace

OpProfile::~OpProfile() { stop(); }

void OpProfile::start() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    totals().clear();
    product_totals().clear();
  }
  at::enableRecordFunction(true);
  handle_ = at::addGlobalCallback(at::RecordFunctionCallback(entered, left)
                                      .needsInputs(true)
                                      .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

void OpProfile::stop() {
  if (!handle_) return;
  at::removeCallback(*handle_);
  handle_.reset();
}

std::vector<OpTime> OpProfile::table() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return by_time(totals());
}

std::vector<OpTime> OpProfile::products() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return by_time(product_totals());
}

}  // namespace vggt_lab::bench
