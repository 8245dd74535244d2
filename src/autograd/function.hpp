// Internal: how ops record backward nodes. An op computes its output, then calls record()
// with a lambda that maps output gradients to input gradients using other public ops.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::autograd {

/// A tensor saved for backward. Remembers the storage version at save time so that a later
/// in-place write is reported instead of silently producing a wrong gradient. An op's own
/// output is saved without a reference to its node (no cycle) and re-attached on unpack.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output = false);  // NOLINT
  /// The saved tensor; throws if it was modified in place since it was saved.
  Tensor unpack() const;
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  uint64_t version_ = 0;
  bool is_output_ = false;
  uint32_t output_nr_ = 0;
};

/// grads: one per op output (undefined = zero gradient). Returns one gradient per op input
/// (undefined where the input does not need one).
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grads)>;

/// True when grad mode is on and any of the tensors requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

/// Records a node named `name` whose inputs are `inputs` and outputs `outputs` (which become
/// non-leaves requiring grad). Does nothing unless needs_grad(inputs).
void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn);

/// Sums a broadcast gradient back to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& grad, const Shape& shape);

/// The node being executed by the engine on this thread (used by SavedTensor for outputs).
Node* current_node();

}  // namespace neural_arch::autograd
