// Double backward for fused ops: a fused kernel's backward is not differentiable, so under
// create_graph the backward instead rebuilds the op's composition from its saved inputs and
// differentiates that with autograd::grad (keeping the graph), the same values to rounding.
#pragma once
#include <functional>
#include <vector>

#include "neural_arch/autograd.hpp"
#include "neural_arch/tensor.hpp"

namespace neural_arch::functional {

using ComposedFn = std::function<Tensor(const std::vector<Tensor>&)>;

/// Gradients of fn(inputs) for upstream gradient g, one per input (undefined where an input is
/// undefined or does not require grad), differentiable themselves.
inline std::vector<Tensor> composed_grad(const ComposedFn& fn, const std::vector<Tensor>& inputs,
                                         const Tensor& g) {
  std::vector<Tensor> want;
  std::vector<size_t> where;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      want.push_back(inputs[i]);
      where.push_back(i);
    }
  std::vector<Tensor> out(inputs.size());
  if (want.empty()) return out;
  Tensor y = fn(inputs);
  std::vector<Tensor> gr = autograd::grad({y}, want, {g}, /*retain_graph=*/true, /*create_graph=*/true,
                                          /*allow_unused=*/true);
  for (size_t j = 0; j < where.size(); ++j) out[where[j]] = gr[j];
  return out;
}

}  // namespace neural_arch::functional
