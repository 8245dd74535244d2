"""Custom differentiable ops written in Python (neural_arch.autograd.Function)."""
import numpy as np
import pytest

import neural_arch as na


class ScaledSquare(na.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x * ctx.scale, None


class SplitHalves(na.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2)
        return a.clone(), b.clone()

    @staticmethod
    def backward(ctx, ga, gb):
        return na.cat([ga, gb])


class Identity(na.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, g):
        return g


class WrongShape(na.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return na.ones(7)


def test_function_forward_backward_matches_torch(torch):
    a = np.random.randn(3, 4)
    x = na.tensor(a).requires_grad_()
    y = ScaledSquare.apply(x, 3.0)
    assert y.grad_fn is not None
    (y.sin()).sum().backward()
    t = torch.from_numpy(a.copy()).requires_grad_()
    (t * t * 3.0).sin().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    assert ScaledSquare.apply(na.tensor(a), 2.0).grad_fn is None  # nothing requires grad: no node


def test_function_with_two_outputs_and_unused_output():
    x = na.arange(4, dtype=na.float64).requires_grad_()
    a, b = SplitHalves.apply(x)
    (a * 5).sum().backward()  # b unused: its gradient arrives as zeros
    assert x.grad.tolist() == [5.0, 5.0, 0.0, 0.0]


def test_function_returning_its_input_keeps_the_leaf_a_leaf():
    x = na.ones(3, requires_grad=True)
    y = Identity.apply(x)
    assert x.is_leaf and not y.is_leaf
    (y * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_function_backward_errors_raise():
    x = na.ones(3, requires_grad=True)
    with pytest.raises(na.Error, match="shape"):
        WrongShape.apply(x).sum().backward()
