// The backward engine: counts dependencies from the roots, then runs nodes in topological
// order (newest op first among ready nodes), summing gradients that meet at a node.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/function.hpp"
#include "autograd/nodes.hpp"
#include "neural_arch/autograd_callback.hpp"
#include "neural_arch/ops.hpp"
#include "optimization/autocast_hook.hpp"

namespace neural_arch::autograd {

namespace {
thread_local Node* running_node = nullptr;
// Backward passes running on this thread (a node may run a backward of its own, e.g. a
// checkpointed segment) and the callbacks queued for the end of the outermost one.
thread_local int backward_depth = 0;
thread_local std::vector<std::function<void()>> final_callbacks;

struct Task {
  Node* node;
  bool operator<(const Task& o) const { return node->sequence_nr < o.node->sequence_nr; }
};

struct CurrentNodeScope {
  Node* prev;
  explicit CurrentNodeScope(Node* n) : prev(running_node) { running_node = n; }
  ~CurrentNodeScope() { running_node = prev; }
};

void add_into(Tensor& slot, Tensor g) {
  if (!g.defined()) return;
  slot = slot.defined() ? slot + g : std::move(g);
}

// Counts one running backward pass; the outermost one runs the queued callbacks when its graph
// is done (run_callbacks) and drops them when it throws.
struct BackwardDepth {
  BackwardDepth() { ++backward_depth; }
  ~BackwardDepth() {
    if (--backward_depth == 0) final_callbacks.clear();
  }
  void run_callbacks() {
    if (backward_depth != 1) return;
    // A callback may queue another; index-based so the vector may grow while iterating.
    for (size_t i = 0; i < final_callbacks.size(); ++i) {
      auto cb = std::move(final_callbacks[i]);
      cb();
    }
    final_callbacks.clear();
  }
};

// Runs the graph. When `captures` is non-empty, returns the gradient reaching each captured
// edge and does not accumulate into any leaf (autograd::grad); otherwise accumulates.
std::vector<Tensor> run(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                        bool keep_graph, bool create_graph, const std::vector<Edge>& captures) {
  // Backward ops run in their forward's dtypes (the saved tensors' and the casts' gradients),
  // never re-cast by an autocast scope the caller is in.
  optimization::detail::AutocastSuspend no_autocast;
  BackwardDepth depth;
  NA_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), "backward", "got ",
           grad_outputs.size(), " gradients for ", outputs.size(), " outputs");
  std::vector<Edge> roots;
  std::vector<Tensor> root_grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    NA_CHECK(out.defined(), "backward", "output ", i, " is an undefined tensor");
    NA_CHECK(out.requires_grad(), "backward", "element ", i,
             " of tensors does not require grad and does not have a grad_fn");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      NA_CHECK(out.numel() == 1, "backward",
               "grad can be implicitly created only for scalar outputs (got shape ", shape_str(out.shape()),
               ")");
      g = ones_like(out);
    } else {
      NA_CHECK(g.shape() == out.shape(), "backward", "gradient has shape ", shape_str(g.shape()),
               " but output ", i, " has shape ", shape_str(out.shape()));
    }
    roots.push_back(gradient_edge(out));
    root_grads.push_back(g);
  }

  // Dependency counts over everything reachable from the roots.
  std::unordered_map<Node*, int> deps;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (auto& e : roots)
    if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next_edges) {
      if (!e.valid()) continue;
      ++deps[e.fn.get()];
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }

  const bool capturing = !captures.empty();
  std::vector<Tensor> captured(captures.size());
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  auto buffer_of = [&](Node* n) -> std::vector<Tensor>& {
    auto& b = buffers[n];
    if (b.size() < n->num_outputs) b.resize(n->num_outputs);
    return b;
  };
  for (size_t i = 0; i < roots.size(); ++i)
    add_into(buffer_of(roots[i].fn.get())[roots[i].input_nr], root_grads[i]);

  std::priority_queue<Task> ready;
  std::unordered_set<Node*> queued;
  for (auto& e : roots)
    if (deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push({e.fn.get()});

  NoGradGuard no_grad;
  std::optional<EnableGradGuard> with_grad;
  if (create_graph) with_grad.emplace();

  while (!ready.empty()) {
    Node* n = ready.top().node;
    ready.pop();
    std::vector<Tensor> grads = std::move(buffer_of(n));
    buffers.erase(n);
    for (auto& [nr, hook] : n->pre_hooks) {
      if (nr < grads.size() && grads[nr].defined()) {
        Tensor r = hook(grads[nr]);
        if (r.defined()) grads[nr] = r;
      }
    }
    for (size_t c = 0; c < captures.size(); ++c)
      if (captures[c].fn.get() == n && captures[c].input_nr < grads.size())
        captured[c] = grads[captures[c].input_nr];

    std::vector<Tensor> in_grads;
    if (!(capturing && dynamic_cast<AccumulateGrad*>(n))) {
      CurrentNodeScope scope(n);
      in_grads = n->apply(std::move(grads));
      if (!keep_graph) n->release();
    }
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      const Edge& e = n->next_edges[i];
      if (!e.valid()) continue;
      if (i < in_grads.size() && in_grads[i].defined())
        add_into(buffer_of(e.fn.get())[e.input_nr], std::move(in_grads[i]));
      if (--deps[e.fn.get()] == 0 && queued.insert(e.fn.get()).second) ready.push({e.fn.get()});
    }
  }
  depth.run_callbacks();
  return captured;
}
}  // namespace

Node* current_node() { return running_node; }

void queue_callback(std::function<void()> cb) {
  NA_CHECK(backward_depth > 0, "queue_callback", "can only be called while a backward pass runs");
  final_callbacks.push_back(std::move(cb));
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs, bool retain_graph,
              bool create_graph) {
  run(outputs, grad_outputs, retain_graph || create_graph, create_graph, {});
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused) {
  NA_CHECK(!inputs.empty(), "grad", "inputs must not be empty");
  std::vector<Edge> captures;
  for (size_t i = 0; i < inputs.size(); ++i) {
    NA_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "grad", "input ", i, " does not require grad");
    captures.push_back(gradient_edge(inputs[i]));
  }
  auto result = run(outputs, grad_outputs, retain_graph || create_graph, create_graph, captures);
  for (size_t i = 0; i < result.size(); ++i) {
    NA_CHECK(result[i].defined() || allow_unused, "grad", "input ", i,
             " was not used in the graph of the outputs; pass allow_unused=true if this is intended");
  }
  return result;
}

}  // namespace neural_arch::autograd
