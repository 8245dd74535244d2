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


class FunctionCtx:
    """The `ctx` of a custom Function: save_for_backward / saved_tensors, and anything else
    forward stores on it."""

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class Function:
    """A differentiable op written in Python (torch.autograd.Function):

        class Square(na.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return 2 * x * grad

        y = Square.apply(x)

    forward runs without recording a graph; backward returns one gradient (or None) per
    forward argument. The recorded node holds ctx until backward has run (or the graph dies).
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("Function subclasses must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("Function subclasses must define backward(ctx, ...)")

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx()
        positions = [i for i, a in enumerate(args) if isinstance(a, _C.Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        single = isinstance(out, _C.Tensor)
        outs = [out] if single else list(out)

        def backward(*grads):
            res = cls.backward(ctx, *grads)
            res = res if isinstance(res, tuple) else (res,)
            if len(res) != len(args):
                raise RuntimeError(f"{cls.__name__}.backward returned {len(res)} gradients for {len(args)} inputs")
            return [res[i] for i in positions]

        outs = _C._record_function(cls.__name__, [args[i] for i in positions], outs, backward)
        return outs[0] if single else tuple(outs)
