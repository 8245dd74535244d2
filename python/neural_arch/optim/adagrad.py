"""The original's ``neural_arch.optim.adagrad``."""
from .._C import Adagrad  # noqa: F401
