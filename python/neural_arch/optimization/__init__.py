"""The original's ``neural_arch.optimization``: memory statistics and gradient checkpointing,
fused linear + activation, mixed precision (autocast, GradScaler)."""
from . import fusion, memory, mixed_precision  # noqa: F401
from .fusion import fuse_linear_activation  # noqa: F401
from .memory import enable_gradient_checkpointing, disable_gradient_checkpointing, get_memory_stats  # noqa: F401
from .mixed_precision import autocast, GradScaler  # noqa: F401
