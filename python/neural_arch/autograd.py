"""torch.autograd's counterpart: grad() and grad-mode helpers."""
from . import _C
from ._grad_mode import enable_grad, no_grad, set_grad_enabled  # noqa: F401


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of outputs with respect to inputs, returned (not accumulated into .grad)."""
    single = isinstance(inputs, _C.Tensor)
    outs = [outputs] if isinstance(outputs, _C.Tensor) else list(outputs)
    ins = [inputs] if single else list(inputs)
    gos = [] if grad_outputs is None else ([grad_outputs] if isinstance(grad_outputs, _C.Tensor) else list(grad_outputs))
    if retain_graph is None:
        retain_graph = create_graph
    return tuple(_C.autograd_grad(outs, ins, gos, retain_graph, create_graph, allow_unused))


def backward(tensors, grad_tensors=None, retain_graph=False, create_graph=False):
    """Backpropagates from tensors into the leaves' .grad (torch.autograd.backward)."""
    ts = [tensors] if isinstance(tensors, _C.Tensor) else list(tensors)
    gs = [None] * len(ts) if grad_tensors is None else (
        [grad_tensors] if isinstance(grad_tensors, _C.Tensor) else list(grad_tensors))
    for i, (t, g) in enumerate(zip(ts, gs)):
        t.backward(g, retain_graph=retain_graph or i + 1 < len(ts), create_graph=create_graph)
