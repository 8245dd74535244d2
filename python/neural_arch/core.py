"""The original's ``neural_arch.core``: Tensor and the creation functions."""
from ._C import Tensor, tensor, zeros, ones, randn, rand, from_numpy, dtype, device  # noqa: F401
from ._grad_mode import no_grad, enable_grad  # noqa: F401
