// Internal: the cast hook at the entry of every op that autocast governs. An op starts with
//   if (optimization::detail::AutocastCall ac{"matmul", a, b}) return matmul(ac[0], ac[1]);
// When autocast is on, AutocastCall casts the inputs by the op's policy (the table in
// autocast.cpp, the one place the policy lives) and suspends autocast until the re-entered op
// returns, so the op body and the ops it is composed of run as written (like PyTorch, whose
// autocast wrapper redispatches with autocast excluded). When autocast is off it is one
// thread-local load.
#pragma once
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::optimization::detail {

struct AutocastState {
  bool enabled = false;
  DType dtype = DType::bf16;
};
inline thread_local AutocastState autocast_state;

/// Turns autocast off for a scope (the autograd engine holds one while it runs).
class AutocastSuspend {
 public:
  AutocastSuspend() : saved_(autocast_state.enabled) { autocast_state.enabled = false; }
  ~AutocastSuspend() { autocast_state.enabled = saved_; }
  AutocastSuspend(const AutocastSuspend&) = delete;
  AutocastSuspend& operator=(const AutocastSuspend&) = delete;

 private:
  bool saved_;
};

/// The dtype op `op` computes in under autocast (the autocast dtype or f32). Throws for an op
/// missing from the policy table.
DType autocast_compute_dtype(const char* op);

class AutocastCall {
 public:
  template <class... Ts> explicit AutocastCall(const char* op, const Ts&... inputs) {
    if (!autocast_state.enabled) return;
    args_ = {inputs...};
    active_ = true;
    suspended_ = true;
    autocast_state.enabled = false;
    cast(op);
  }
  ~AutocastCall() {
    if (suspended_) autocast_state.enabled = true;
  }
  AutocastCall(const AutocastCall&) = delete;
  AutocastCall& operator=(const AutocastCall&) = delete;

  explicit operator bool() const { return active_; }
  const Tensor& operator[](size_t i) const { return args_[i]; }
  /// The dtype the op computes in (valid when active).
  DType dtype() const { return dtype_; }

 private:
  void cast(const char* op);
  std::vector<Tensor> args_;
  DType dtype_ = DType::f32;
  bool active_ = false;
  bool suspended_ = false;
};

}  // namespace neural_arch::optimization::detail
