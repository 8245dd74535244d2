"""Fused operations: act(x @ W^T + b) as one GEMM with its epilogue."""
from .._C import fuse_linear_activation, is_fusable_activation  # noqa: F401
