#include "neural_arch/optimization/checkpoint.hpp"

#include <cmath>

#include "autograd/function.hpp"
#include "neural_arch/autograd.hpp"
#include "neural_arch/nn/containers.hpp"
#include "neural_arch/nn/gpt.hpp"
#include "neural_arch/nn/transformer.hpp"
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
      NA_CHECK(!saved_inputs[i].defined() || saved_inputs[i].version() == versions[i], "checkpoint", "input ",
               i, " was modified in place after the checkpointed forward");
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
  return checkpoint([fn](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in[0])}; },
                    {input})[0];
}

Tensor checkpoint_sequential(const std::vector<std::shared_ptr<nn::Module>>& modules, int64_t segments,
                             const Tensor& input) {
  const auto n = static_cast<int64_t>(modules.size());
  NA_CHECK(segments >= 1 && segments <= n, "checkpoint_sequential", "segments must be in [1, ", n, "] for ",
           n, " module(s), got ", segments);
  for (int64_t i = 0; i < n; ++i)
    NA_CHECK(modules[static_cast<size_t>(i)] != nullptr, "checkpoint_sequential", "module ", i,
             " is a null handle");
  // torch's split: chunks of n / segments, the last one (with the remainder) not checkpointed.
  const int64_t size = n / segments;
  Tensor x = input;
  int64_t next = 0;
  for (int64_t s = 0; s + 1 < segments; ++s, next += size) {
    // The chunk's handles are copied into the node: backward recomputes through them.
    std::vector<std::shared_ptr<nn::Module>> chunk(modules.begin() + next, modules.begin() + next + size);
    x = checkpoint(
        [chunk](const Tensor& t) {
          Tensor h = t;
          for (const auto& m : chunk) h = m->forward(h);
          return h;
        },
        x);
  }
  for (int64_t i = next; i < n; ++i) x = modules[static_cast<size_t>(i)]->forward(x);
  return x;
}

Tensor checkpoint_sequential(const nn::Sequential& seq, int64_t segments, const Tensor& input) {
  return checkpoint_sequential(seq.modules(), segments, input);
}

namespace {

// Sets the flag on m when it is a supported type; returns whether it was.
bool set_checkpointing(nn::Module& m, int64_t segments) {
  if (auto* seq = dynamic_cast<nn::Sequential*>(&m)) {
    const auto n = static_cast<int64_t>(seq->size());
    NA_CHECK(n >= 1, "enable_gradient_checkpointing", "the Sequential is empty: nothing to checkpoint");
    const int64_t k =
        segments == 0
            ? std::max<int64_t>(1, static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n)))))
            : segments;
    NA_CHECK(k >= 1 && k <= n, "enable_gradient_checkpointing", "segments must be in [1, ", n,
             "] for a Sequential of ", n, " module(s) (or 0 for round(sqrt(n))), got ", segments);
    seq->gradient_checkpointing_segments = k;
    return true;
  }
  auto* gpt = dynamic_cast<nn::GPT*>(&m);
  auto* enc = dynamic_cast<nn::TransformerEncoder*>(&m);
  if (!gpt && !enc) return false;
  NA_CHECK(segments == 0, "enable_gradient_checkpointing", m.type_name(),
           " checkpoints one segment per block; segments must be 0, got ", segments);
  (gpt ? gpt->gradient_checkpointing : enc->gradient_checkpointing) = true;
  return true;
}

// Flags the outermost supported modules under m (m included); returns how many.
int enable_outermost(nn::Module& m, int64_t segments) {
  if (set_checkpointing(m, segments)) return 1;
  int count = 0;
  for (const auto& c : m.children()) count += enable_outermost(*c, segments);
  return count;
}

}  // namespace

void enable_gradient_checkpointing(nn::Module& module, int64_t segments) {
  NA_CHECK(segments >= 0, "enable_gradient_checkpointing", "segments must be >= 0 (0: the default), got ",
           segments);
  NA_CHECK(enable_outermost(module, segments) > 0, "enable_gradient_checkpointing", "a ", module.type_name(),
           " contains no Sequential, TransformerEncoder or GPT to checkpoint");
}

void disable_gradient_checkpointing(nn::Module& module) {
  if (auto* seq = dynamic_cast<nn::Sequential*>(&module)) seq->gradient_checkpointing_segments = 0;
  if (auto* gpt = dynamic_cast<nn::GPT*>(&module)) gpt->gradient_checkpointing = false;
  if (auto* enc = dynamic_cast<nn::TransformerEncoder*>(&module)) enc->gradient_checkpointing = false;
  for (const auto& c : module.children()) disable_gradient_checkpointing(*c);
}

}  // namespace neural_arch::optimization
