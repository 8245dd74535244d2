// Reverse-mode autograd: graph nodes, the backward engine, grad mode guards.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch {

/// An edge of the backward graph: the node that receives a gradient and which of its inputs.
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

/// A backward-graph node: maps gradients of an op's outputs to gradients of its inputs.
class Node : public std::enable_shared_from_this<Node> {
 public:
  virtual ~Node() = default;
  /// grads[i] is the gradient of output i (undefined = zero). Returns one per next_edges entry.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;
  virtual std::string name() const = 0;
  /// Frees saved tensors (after a backward without retain_graph).
  virtual void release() {}

  std::vector<Edge> next_edges;
  uint32_t num_outputs = 1;
  uint64_t sequence_nr = 0;
  /// Hooks run on the gradient of output `first` before apply (tensor hooks live here).
  std::vector<std::pair<uint32_t, TensorHook>> pre_hooks;
};

/// True while gradients are being recorded (thread-local, default true).
bool is_grad_enabled();
void set_grad_enabled(bool enabled);

/// Disables recording in a scope (torch.no_grad).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

/// Enables recording in a scope (torch.enable_grad).
class EnableGradGuard {
 public:
  EnableGradGuard() : prev_(is_grad_enabled()) { set_grad_enabled(true); }
  ~EnableGradGuard() { set_grad_enabled(prev_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

namespace autograd {

/// Backpropagates from outputs (with grad_outputs, undefined = ones for scalars) into leaves' .grad.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

/// Gradients of outputs with respect to inputs, returned rather than accumulated into .grad.
/// allow_unused=false makes an input that the outputs do not depend on an error.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false,
                         bool create_graph = false, bool allow_unused = false);

}  // namespace autograd
}  // namespace neural_arch
