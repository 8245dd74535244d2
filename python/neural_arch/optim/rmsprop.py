"""The original's ``neural_arch.optim.rmsprop``."""
from .._C import RMSprop  # noqa: F401
