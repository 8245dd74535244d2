"""Automatic mixed precision on the CPU (bf16/f16 autocast, loss scaling)."""
from .._C import autocast, GradScaler, is_autocast_enabled  # noqa: F401
