#pragma once
// Where a step's time goes, by operator: LibTorch's RecordFunction
// callbacks on every thread that calls operators (forward, autograd's
// backward functions and what they call), each operator's self time
// (its own, less the operators it called).
#include <ATen/record_function.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vggt_lab::bench {

struct OpTime {
  std::string name;  // the operator; for products(), with its operands' shapes
  double self_seconds = 0;
  std::int64_t calls = 0;
  double flops = 0;  // matrix products (mm, addmm, bmm): 2 M N K each
};

class OpProfile {
 public:
  OpProfile() = default;
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  /// Records from now until stop() (one profile at a time in a process).
  void start();
  void stop();
  /// Every operator seen, largest self time first.
  std::vector<OpTime> table() const;
  /// The matrix products by operator and operand shapes ("aten::mm
  /// 552x384 * 384x1536^T", ^T: a transposed view), largest self time first.
  std::vector<OpTime> products() const;

 private:
  std::optional<at::CallbackHandle> handle_;
};

}  // namespace vggt_lab::bench
