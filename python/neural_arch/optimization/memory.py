"""Memory: allocator statistics and gradient checkpointing."""
from .._C import (  # noqa: F401
    get_memory_stats, reset_peak_memory_stats, enable_gradient_checkpointing, disable_gradient_checkpointing,
    checkpoint, checkpoint_sequential,
)
