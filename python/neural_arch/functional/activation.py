"""The original's ``neural_arch.functional.activation``."""
from .._C import relu, gelu, silu, sigmoid, tanh, softplus, leaky_relu, elu, glu, softmax, log_softmax  # noqa: F401
