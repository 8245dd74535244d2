"""The original's ``neural_arch.optim.lion``."""
from .._C import Lion  # noqa: F401
