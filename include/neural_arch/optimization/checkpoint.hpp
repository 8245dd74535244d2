// Gradient checkpointing: run a segment without keeping its activations, recompute it in
// backward. Trades one extra forward of the segment for its activation memory.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "neural_arch/tensor.hpp"

namespace neural_arch::nn {
class Module;
class Sequential;
}  // namespace neural_arch::nn

namespace neural_arch::optimization {

using SegmentFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

/// Runs fn(inputs) without recording its graph and records one node that, in backward,
/// restores the default generator's state (so dropout masks match), recomputes fn with
/// gradients on, and backpropagates through the recomputed segment. Gradients reach the
/// inputs and every parameter fn uses (accumulated into their .grad), so use it with
/// Tensor::backward / autograd::backward; autograd::grad() sees the input gradients only.
///
///   auto y = na::optimization::checkpoint([&](const auto& in) { return std::vector{block->forward(in[0])};
///   }, {x})[0];
std::vector<Tensor> checkpoint(const SegmentFn& fn, const std::vector<Tensor>& inputs);
/// Single-tensor form.
Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input);

/// torch.utils.checkpoint.checkpoint_sequential: splits the modules into `segments` chunks of
/// n / segments modules; every chunk but the last is checkpointed, the last (which also takes
/// the n % segments leftover modules) runs normally, since its activations are needed at once
/// by backward anyway. segments must be in [1, n] (an Error otherwise); segments = 1 runs
/// everything plainly, as torch does.
///
///   auto y = na::optimization::checkpoint_sequential(*net, 4, x);
Tensor checkpoint_sequential(const std::vector<std::shared_ptr<nn::Module>>& modules, int64_t segments,
                             const Tensor& input);
Tensor checkpoint_sequential(const nn::Sequential& seq, int64_t segments, const Tensor& input);

/// Turns on gradient checkpointing in a module's forward (taken in training mode with grad
/// enabled only; eval and no-grad forwards run plainly):
///   nn::Sequential          checkpoint_sequential with `segments` (0: round(sqrt(size())))
///   nn::TransformerEncoder  one checkpointed segment per layer (segments must be 0)
///   nn::GPT                 one checkpointed segment per block (segments must be 0)
/// Any other module: applied to its outermost descendants of those types (an Error if it has
/// none, or for segments out of range).
///
///   na::optimization::enable_gradient_checkpointing(*gpt);
void enable_gradient_checkpointing(nn::Module& module, int64_t segments = 0);
/// Turns it off in the module and every descendant.
void disable_gradient_checkpointing(nn::Module& module);

}  // namespace neural_arch::optimization
