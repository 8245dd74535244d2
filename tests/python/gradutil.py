"""Shared by the tests that compare two ways of computing the same parameter gradients."""
import numpy as np


def param_grads(module):
    """Copies of every parameter's gradient, in parameters() order."""
    return [p.grad.numpy().copy() for p in module.parameters()]


def assert_param_grads_close(expected, module, rtol=1e-5, atol=1e-6):
    actual = module.parameters()
    assert len(actual) == len(expected)
    for e, p in zip(expected, actual):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=rtol, atol=atol)
