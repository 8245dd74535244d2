"""The original's ``neural_arch.optim.adamw``."""
from .._C import AdamW  # noqa: F401
