"""The original's ``neural_arch.optim.sgd``."""
from .._C import SGD  # noqa: F401
