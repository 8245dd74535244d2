// Internal node types: LambdaNode (an op's backward) and AccumulateGrad (a leaf's sink).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "autograd/function.hpp"

namespace neural_arch::autograd {

class LambdaNode final : public Node {
 public:
  LambdaNode(const char* name, BackwardFn fn, bool saves_tensors)
      : name_(name), fn_(std::move(fn)), saves_tensors_(saves_tensors) {}
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return name_; }
  /// Frees the saved tensors after a backward without retain_graph. A node that saved none
  /// (views, add, neg, sum, ...) stays usable, so a second backward through it runs, as in
  /// PyTorch, which refuses only nodes whose saved tensors were freed.
  void release() override {
    if (saves_tensors_) fn_ = nullptr;
  }

 private:
  const char* name_;
  BackwardFn fn_;
  bool saves_tensors_;
};

/// Adds incoming gradients into a leaf's .grad. Both sides point at each other weakly: with
/// create_graph the leaf's .grad holds a graph that reaches this node, and a strong pointer
/// here would make that a reference cycle (a leaked graph). A leaf nobody holds any more has
/// no observable .grad, so its gradient is dropped.
class AccumulateGrad final : public Node {
 public:
  // Highest priority, as in PyTorch: a leaf's gradient is accumulated (and its buffer freed)
  // as soon as it is complete, instead of every weight gradient of the graph waiting in the
  // engine until the last op's backward has run.
  explicit AccumulateGrad(const std::shared_ptr<detail::TensorImpl>& leaf) : leaf_(leaf) {
    sequence_nr = UINT64_MAX;
  }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }

 private:
  std::weak_ptr<detail::TensorImpl> leaf_;
};

/// The edge a gradient for t flows into: its grad_fn, its leaf accumulator, or none.
Edge gradient_edge(const Tensor& t);

}  // namespace neural_arch::autograd
