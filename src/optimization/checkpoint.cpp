#include "neural_arch/optimization/checkpoint.hpp"

#include "autograd/function.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::optimization {

namespace {
// Detached copies of the inputs that become leaves, so the recomputed segment's graph ends
// at them and their .grad holds the segment's input gradients.
std::vector<Tensor> fresh_leaves(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> leaves;
  leaves.reserve(inputs.size());
  for (const auto& t : inputs) {
    Tensor d = t.defined() ? t.detach() : t;
    if (t.defined() && t.requires_grad()) d.requires_grad_(true);
    leaves.push_back(d);
  }
  return leaves;
}
}  // namespace

std::vector<Tensor> checkpoint(const SegmentFn& fn, const std::vector<Tensor>& inputs) {
  NA_CHECK(static_cast<bool>(fn), "checkpoint", "the segment function is empty");
  if (!is_grad_enabled()) return fn(inputs);
  const std::string rng_state = default_generator().get_state();
  std::vector<Tensor> outputs;
  {
    NoGradGuard no_grad;
    outputs = fn(inputs);
  }
  std::vector<uint64_t> versions;
  for (const auto& t : inputs) versions.push_back(t.defined() ? t.version() : 0);
  // Outputs become fresh tensors so each can carry this node as its grad_fn.
  for (auto& o : outputs) {
    NA_CHECK(o.defined(), "checkpoint", "the segment returned an undefined tensor");
    o = o.detach();
  }
  std::vector<Tensor> float_outputs;
  for (const auto& o : outputs)
    if (is_floating(o.dtype())) float_outputs.push_back(o);
  // Even with no input requiring grad, parameters inside fn may: always record.
  std::vector<Tensor> saved_inputs = inputs;
  auto node_fn = [fn, saved_inputs, versions, rng_state](const std::vector<Tensor>& grads) {
    for (size_t i = 0; i < saved_inputs.size(); ++i)
      NA_CHECK(!saved_inputs[i].defined() || saved_inputs[i].version() == versions[i], "checkpoint",
               "input ", i, " was modified in place after the checkpointed forward");
    std::vector<Tensor> leaves = fresh_leaves(saved_inputs);
    std::vector<Tensor> recomputed;
    {
      // Same random numbers as the first forward, then back to where the caller was.
      const std::string now = default_generator().get_state();
      default_generator().set_state(rng_state);
      EnableGradGuard with_grad;
      recomputed = fn(leaves);
      default_generator().set_state(now);
    }
    std::vector<Tensor> outs, gs;
    size_t k = 0;
    for (const auto& r : recomputed) {
      if (!is_floating(r.dtype())) continue;
      const Tensor& g = grads[k++];
      if (g.defined() && r.requires_grad()) {
        outs.push_back(r);
        gs.push_back(g);
      }
    }
    if (!outs.empty()) autograd::backward(outs, gs);
    std::vector<Tensor> in_grads;
    for (const auto& l : leaves) in_grads.push_back(l.defined() && l.requires_grad() ? l.grad() : Tensor());
    return in_grads;
  };
  // A node without differentiable inputs would never run; tie it to a dummy leaf then.
  std::vector<Tensor> node_inputs = inputs;
  if (!autograd::needs_grad(inputs)) node_inputs.push_back(zeros({}).requires_grad_(true));
  autograd::record("CheckpointBackward", node_inputs, float_outputs, node_fn);
  return outputs;
}

Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input) {
  // fn is copied: the node runs it again during backward, after this call has returned.
  return checkpoint([fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; }, {input})[0];
}

}  // namespace neural_arch::optimization
