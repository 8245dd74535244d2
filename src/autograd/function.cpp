#include "autograd/function.hpp"

#include <atomic>

#include "autograd/nodes.hpp"
#include "neural_arch/ops.hpp"

namespace neural_arch::autograd {

namespace {
std::atomic<uint64_t> next_sequence_nr{0};
// Tensors saved on this thread since the last record(): an op builds its backward lambda (and
// the SavedTensors in it) right before recording it, so a non-zero count at record() means the
// node holds saved tensors. A SavedTensor made without a following record() only makes the
// next node look like it saves tensors, which errs on the side of freeing (the old behaviour).
thread_local int64_t saved_since_record = 0;
}  // namespace

SavedTensor::SavedTensor(const Tensor& t, bool is_output) : is_output_(is_output) {
  if (!t.defined()) return;
  ++saved_since_record;
  version_ = t.version();
  if (is_output) {
    // Keep data without the grad_fn: the node owning this SavedTensor is that grad_fn.
    output_nr_ = t.output_nr();
    data_ = t.detach();
  } else {
    data_ = t;
  }
}

Tensor SavedTensor::unpack() const {
  if (!data_.defined()) return data_;
  NA_CHECK(data_.version() == version_, "backward",
           "one of the variables needed for gradient computation has been modified by an inplace "
           "operation: a tensor of shape ",
           shape_str(data_.shape()), " saved by ",
           current_node() ? current_node()->name() : std::string("an op"), " is at version ", data_.version(),
           "; expected version ", version_, " instead");
  if (!is_output_ || !current_node() || !is_grad_enabled()) return data_;
  // Under create_graph, re-attach the output to its node so double backward sees the graph.
  Tensor t = data_.detach();
  t.impl()->grad_fn = current_node()->shared_from_this();
  t.impl()->output_nr = output_nr_;
  t.impl()->requires_grad = true;
  return t;
}

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!is_grad_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  auto* impl = t.impl();
  if (impl->grad_fn) return {impl->grad_fn, impl->output_nr};
  auto acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    for (const auto& h : impl->leaf_hooks) acc->pre_hooks.emplace_back(0, h);
    impl->grad_accumulator = acc;
  }
  return {acc, 0};
}

void record(const char* name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            BackwardFn fn) {
  const bool saves_tensors = saved_since_record > 0;
  saved_since_record = 0;
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<LambdaNode>(name, std::move(fn), saves_tensors);
  node->sequence_nr = next_sequence_nr.fetch_add(1, std::memory_order_relaxed);
  node->num_outputs = static_cast<uint32_t>(outputs.size());
  node->next_edges.reserve(inputs.size());
  for (const auto& in : inputs) node->next_edges.push_back(gradient_edge(in));
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto* o = outputs[i].impl();
    o->grad_fn = node;
    o->output_nr = static_cast<uint32_t>(i);
    o->requires_grad = true;
  }
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < grad.dim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && grad.size(i) != 1)) dims.push_back(i);
  }
  Tensor r = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

std::vector<Tensor> LambdaNode::apply(std::vector<Tensor>&& grads) {
  NA_CHECK(fn_ != nullptr, "backward", "trying to backward through the graph a second time (through ", name_,
           "); its saved tensors were freed after the first backward. Specify retain_graph=true "
           "on the first backward call if you need to backward twice");
  return fn_(grads);
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor g = std::move(grads[0]);
  auto leaf = leaf_.lock();
  if (!g.defined() || !leaf) return {};
  Tensor& dst = leaf->grad;
  if (!dst.defined()) {
    // Steal the buffer when nobody else can see it; otherwise copy so grads never alias.
    bool exclusive = !is_grad_enabled() && g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1 &&
                     g.is_contiguous() && !g.requires_grad();
    dst = exclusive ? g : (is_grad_enabled() ? g : g.clone());
  } else if (is_grad_enabled()) {
    dst = dst + g;
  } else {
    dst.add_(g);
  }
  return {};
}

}  // namespace neural_arch::autograd
