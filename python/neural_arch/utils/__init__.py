"""torch.utils' counterpart: gradient checkpointing."""
from . import checkpoint  # noqa: F401
