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
};

/// 2 M N K of a matrix product's inputs (batched for bmm); 0 for other operators.
double product_flops(const at::RecordFunction& fn) {
  const std::string_view name = fn.name();
  if (name != "aten::mm" && name != "aten::addmm" && name != "aten::bmm") return 0;
  const auto inputs = fn.inputs();
  const std::size_t first = name == "aten::addmm" ? 1 : 0;
  if (inputs.size() < first + 2 || !inputs[first].isTensor() || !inputs[first + 1].isTensor()) return 0;
  const auto a = inputs[first].toTensor().sizes(), b = inputs[first + 1].toTensor().sizes();
  double batch = 1;
  for (std::size_t d = 0; d + 2 < a.size(); ++d) batch *= double(a[d]);
  return 2.0 * batch * double(a[a.size() - 2]) * double(a.back()) * double(b.back());
}

std::mutex g_mutex;
std::map<std::string, OpTime>& totals() {
  static std::map<std::string, OpTime> ops;
  return ops;
}
thread_local std::vector<Frame> t_stack;

std::unique_ptr<at::ObserverContext> entered(const at::RecordFunction& fn) {
  t_stack.push_back({Clock::now(), 0.0, product_flops(fn)});
  return nullptr;
}

void left(const at::RecordFunction& fn, at::ObserverContext*) {
  if (t_stack.empty()) return;  // entered before the profile started
  const Frame frame = t_stack.back();
  t_stack.pop_back();
  const double seconds = std::chrono::duration<double>(Clock::now() - frame.start).count();
  if (!t_stack.empty()) t_stack.back().children += seconds;
  std::lock_guard<std::mutex> lock(g_mutex);
  OpTime& op = totals()[fn.name()];
  op.name = fn.name();
  op.self_seconds += std::max(0.0, seconds - frame.children);
  op.flops += frame.flops;
  ++op.calls;
}

}  // namespace

OpProfile::~OpProfile() { stop(); }

void OpProfile::start() {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    totals().clear();
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
  std::vector<OpTime> out;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (const auto& [name, op] : totals()) out.push_back(op);
  }
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.self_seconds > b.self_seconds; });
  return out;
}

}  // namespace vggt_lab::bench
