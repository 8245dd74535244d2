"""The original's ``neural_arch.nn.optimized``: Linear + activation as one fused GEMM."""
from .._C import OptimizedLinear  # noqa: F401
