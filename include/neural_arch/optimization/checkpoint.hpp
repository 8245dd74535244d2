// Gradient checkpointing: run a segment without keeping its activations, recompute it in
// backward. Trades one extra forward of the segment for its activation memory.
#pragma once
#include <functional>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::optimization {

using SegmentFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

/// Runs fn(inputs) without recording its graph and records one node that, in backward,
/// restores the default generator's state (so dropout masks match), recomputes fn with
/// gradients on, and backpropagates through the recomputed segment. Gradients reach the
/// inputs and every parameter fn uses (accumulated into their .grad), so use it with
/// Tensor::backward / autograd::backward; autograd::grad() sees the input gradients only.
///
///   auto y = na::optimization::checkpoint([&](const auto& in) { return std::vector{block->forward(in[0])}; }, {x})[0];
std::vector<Tensor> checkpoint(const SegmentFn& fn, const std::vector<Tensor>& inputs);
/// Single-tensor form.
Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input);

}  // namespace neural_arch::optimization
