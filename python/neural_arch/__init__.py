"""neural_arch: a PyTorch-style deep-learning framework on a C++ core.

The compiled module ``neural_arch._C`` holds everything; this package only arranges names:
the flat PyTorch-like namespace here (``na.tensor``, ``na.randn``, ``na.no_grad()``...) and the
module paths of the original guide (``neural_arch.core``, ``neural_arch.optim.adamw``...).
"""
from . import _C
from ._C import (  # noqa: F401  (re-exports)
    Error,
    Tensor,
    device,
    dtype,
    tensor,
    from_numpy,
    from_dlpack,
    zeros, ones, empty, full, rand, randn, randint, arange, linspace, eye,
    zeros_like, ones_like, empty_like, full_like,
    add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge,
    logical_and, logical_or, logical_xor, logical_not,
    neg, exp, log, log1p, sqrt, rsqrt, abs, sign, sin, cos, tanh, sigmoid, relu, erf, clamp, where,
    masked_fill,
    sum, mean, var, std, logsumexp, argmax, argmin, softmax, log_softmax,
    cat, stack, index_select, gather, scatter, scatter_add, matmul, mm, bmm, outer,
    allclose, manual_seed, get_num_threads, set_num_threads,
    is_grad_enabled,
)
from ._grad_mode import no_grad, enable_grad, set_grad_enabled  # noqa: F401

float32 = dtype.float32
float64 = dtype.float64
float16 = dtype.float16
bfloat16 = dtype.bfloat16
int32 = dtype.int32
int64 = dtype.int64
uint8 = dtype.uint8
bool = dtype.bool  # noqa: A001  (torch.bool's counterpart)
float = float32  # noqa: A001
double = float64
half = float16
long = int64
int = int32  # noqa: A001

from . import autograd, backends, core, data, functional, nn, optim, optimization, utils  # noqa: E402,F401

__version__ = "0.1.0"
