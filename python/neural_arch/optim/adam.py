"""The original's ``neural_arch.optim.adam``."""
from .._C import Adam  # noqa: F401
